"""Presets of the coupling experiment: the run config every job starts from, and
the protocol's lengths.

- ``tiny-arith`` (default): tiny Qwen3-architecture model, synthetic ``a+b=``
  task, 2-core CPU, a few minutes. The expert writes answers in two formats
  (half ``<a>c</a>``, half plain ``c``) and gets 20% of them wrong; the reward
  is the strict format with the right answer, which the expert earns 40% of
  the time. Both are what make the effects show (see :mod:`postcouple.tasks.arith`).
- ``tiny-arith-clean``: the theory's boundary case — one format, no wrong
  answers: the SFT model already earns the reward, GRPO groups are all equal,
  RL has no gradient and neither effect shows.
- ``qwen3-0.6b-cola``: the paper's setup: CoLA with a strict
  ``<answer>acceptable|unacceptable</answer>`` format reward, GRPO; ``--model``
  points at Qwen3-0.6B weights.
- ``qwen3-0.6b-gsm8k``: the same protocols on GSM8K, GRPO with the Rust math
  verifier (``postcouple.rewards.math_reward``) as the reward.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from postcouple.train.config import RunConfig, from_dict, to_dict


@dataclass
class Preset:
    name: str
    base: dict[str, Any]  # RunConfig fields (nested dicts) shared by every job
    sft_steps: int = 600  # protocol 1: SFT to convergence
    rl_steps: int = 150  # protocol 1: RL after SFT (also the budget of protocol 3)
    resft_steps: int = 150  # protocol 2: SFT after RL
    seeds: tuple[int, ...] = (0, 1, 2)
    betas: tuple[float, ...] = (0.25, 0.5, 1.0)  # C1(beta) sweep (KL-in-reward RL)
    # Long enough to reach the KL-regularised optimum, with the lr annealed (cosine) so
    # that the policy settles there: at a constant lr the held-out SFT loss of one run
    # wanders by about ±0.2 nats (beta 0.25) around its level, as large as the
    # 15% agreement the check asks for.
    beta_rl_steps: int = 300
    beta_lr_scheduler: str = "cosine"
    c1_samples: int = 64  # samples per prompt for log Z_beta(x)
    c1_prompts: int = 256  # the held-out prompts of the SFT-loss evaluation (eval.num_examples)
    mus: tuple[float, ...] = (0.1, 0.3, 0.5)  # joint schedules
    alt_block: int = 15  # alternating blocks of k steps (protocol 3)
    eval_interval_sft: int = 50
    eval_interval_rl: int = 15
    # `postcouple compare`: optimizer steps per method, and how often it evaluates
    compare_steps: int = 100
    compare_eval_interval: int = 10
    notes: list[str] = field(default_factory=list)

    def config(self, **overrides: Any) -> RunConfig:
        """A RunConfig from the preset's base with nested ``overrides`` applied."""
        data = to_dict(from_dict(RunConfig, self.base))
        _merge(data, overrides)
        return from_dict(RunConfig, data)


def _merge(dst: dict[str, Any], src: dict[str, Any]) -> None:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict) and k != "options":
            _merge(dst[k], v)
        else:
            dst[k] = v


_TINY_BASE: dict[str, Any] = {
    "model": {"name": "tiny", "device": "cpu"},
    "task": {"name": "arith", "options": {"max_operand": 9}},
    "sft": {
        "learning_rate": 3e-3,
        "batch_size": 64,
        "packing": False,
        "lr_scheduler_type": "cosine",
        "warmup_ratio": 0.05,
    },
    "rl": {"learning_rate": 1e-3, "num_prompts": 16, "num_generations": 8, "max_new_tokens": 12},
    "joint": {"learning_rate": 1e-3},
    # the SFT+RL methods step at the RL stage's rate, so that `postcouple compare`
    # compares methods, not learning rates
    **{k: {"learning_rate": 1e-3} for k in ("chord", "luffy", "hpt", "relift", "uft")},
    "eval": {
        "num_examples": 256,
        "num_prompts": 64,
        "num_samples": 8,
        "grad_cosine": True,
        "probe_examples": 256,
        "probe_prompts": 32,
    },
    "checkpoint_interval": 1000,
    "progress": False,
}


def _qwen3_base(
    task: dict[str, Any], *, sft: dict[str, Any], max_new_tokens: int, probe_examples: int
) -> dict[str, Any]:
    """Qwen3-0.6B on a GPU, GRPO without KL (the paper's setup), for a real-data task."""
    return {
        "model": {"name": "Qwen/Qwen3-0.6B", "device": "auto"},
        "task": task,
        "sft": sft,
        "rl": {
            "learning_rate": 1e-6,
            "num_prompts": 16,
            "num_generations": 8,
            "max_new_tokens": max_new_tokens,
            "beta": 0.0,
        },
        "joint": {"learning_rate": 1e-6},
        **{k: {"learning_rate": 1e-6} for k in ("chord", "luffy", "hpt", "relift", "uft")},
        "eval": {
            "num_examples": 256,
            "num_prompts": 64,
            "num_samples": 4,
            "grad_cosine": True,
            "probe_examples": probe_examples,
            "probe_prompts": 8,
        },
        "checkpoint_interval": 100,
        "progress": False,
    }


_QWEN3_PROTOCOL: dict[str, Any] = dict(
    sft_steps=300,
    rl_steps=200,
    resft_steps=200,
    beta_rl_steps=200,
    alt_block=20,
    eval_interval_sft=50,
    eval_interval_rl=20,
    c1_samples=16,
    c1_prompts=64,
    compare_steps=200,
    compare_eval_interval=20,
)


def _qwen3_preset(
    task: str, *, batch_size: int, max_length: int, max_new_tokens: int, probe_examples: int
) -> Preset:
    """``qwen3-0.6b-<task>``: :func:`_qwen3_base` on that task under the paper's protocol."""
    return Preset(
        f"qwen3-0.6b-{task}",
        _qwen3_base(
            {"name": task},
            sft={"learning_rate": 1e-5, "batch_size": batch_size, "max_length": max_length},
            max_new_tokens=max_new_tokens,
            probe_examples=probe_examples,
        ),
        **_QWEN3_PROTOCOL,
    )


PRESETS: dict[str, Preset] = {
    "tiny-arith": Preset("tiny-arith", _TINY_BASE),
    "tiny-arith-clean": Preset(
        "tiny-arith-clean",
        {
            **_TINY_BASE,
            "task": {
                "name": "arith",
                "options": {"max_operand": 9, "formats": {"tag": 1.0}, "wrong_fraction": 0.0},
            },
        },
        notes=["boundary case: clean single-format expert data; expect no effect"],
    ),
    **{
        p.name: p
        for p in (
            _qwen3_preset(
                "cola", batch_size=32, max_length=256, max_new_tokens=64, probe_examples=64
            ),
            _qwen3_preset(
                "gsm8k", batch_size=16, max_length=512, max_new_tokens=320, probe_examples=32
            ),
        )
    },
}
