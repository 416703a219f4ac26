"""Training: SFT and RL stages on Hugging Face causal LMs, in any order or interleaved.

The configs import with the standard library alone; ``run`` and the engine
(torch, transformers) load on first use.

Example:
    >>> from postcouple.train import RunConfig, run
    >>> cfg = RunConfig(schedule="sft:300,rl:50", out="runs/demo")
    >>> last_eval = run(cfg)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
from postcouple.train.schedule import StageSpec, parse_schedule

if TYPE_CHECKING:
    from postcouple.train.engine import Context, run
    from postcouple.train.interrupt import TrainingInterrupted, graceful_interrupt

_LAZY = {
    "Context": "postcouple.train.engine",
    "run": "postcouple.train.engine",
    "TrainingInterrupted": "postcouple.train.interrupt",
    "graceful_interrupt": "postcouple.train.interrupt",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'postcouple.train' has no attribute {name!r}")


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
    "TrainingInterrupted",
    "apply_overrides",
    "graceful_interrupt",
    "load_toml",
    "parse_schedule",
    "run",
]
