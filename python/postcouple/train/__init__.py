"""Training: SFT and RL stages on Hugging Face causal LMs, in any order or interleaved.

Example:
    >>> from postcouple.train import RunConfig, run
    >>> cfg = RunConfig(schedule="sft:300,rl:50", out="runs/demo")
    >>> last_eval = run(cfg)  # doctest: +SKIP
"""

from postcouple.train.config import (
    EvalConfig,
    JointConfig,
    ModelConfig,
    RLConfig,
    RunConfig,
    SFTConfig,
    TaskConfig,
    apply_overrides,
    load_toml,
)
from postcouple.train.engine import Context, run
from postcouple.train.schedule import StageSpec, parse_schedule

__all__ = [
    "Context",
    "EvalConfig",
    "JointConfig",
    "ModelConfig",
    "RLConfig",
    "RunConfig",
    "SFTConfig",
    "StageSpec",
    "TaskConfig",
    "apply_overrides",
    "load_toml",
    "parse_schedule",
    "run",
]
