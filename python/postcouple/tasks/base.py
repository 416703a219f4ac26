"""The contract every task meets (built-in synthetic arithmetic, GSM8K, MATH, CoLA, JSONL).

A task is data plus a verifier:

- ``train_examples()`` — the expert (SFT) data; RL samples its prompts too;
- ``eval_examples()`` — held-out examples: their responses give the held-out
  SFT loss, their prompts the held-out reward;
- ``reward(completions, examples)`` — a float32 array (B,), computed by the
  Rust core (``postcouple.rewards``); NaN where the gold itself cannot be parsed.
- optional: ``expert_solution(example, rng)`` and its batch form
  ``expert_solutions(examples, rng)`` — an expert solution y* for an RL prompt,
  which the SFT+RL stages (``chord``, ``luffy``, ``hpt``, ``relift``, ``uft``)
  ask for: ``arith`` draws a fresh sample of its expert distribution, GSM8K and
  MATH give the reference solution, CoLA the formatted label. A task without
  them gives its example's ``response`` (:func:`postcouple.train.mixed.expert_solutions`).

Prompts and responses are plain strings; a chat template, when the tokenizer
has one, is applied by the trainer, not by the task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Example:
    prompt: str
    response: str  # the expert response (SFT target); may be wrong on purpose
    answer: str  # the gold answer the verifier compares against
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


@runtime_checkable
class Task(Protocol):
    name: str

    def train_examples(self) -> list[Example]: ...

    def eval_examples(self) -> list[Example]: ...

    def reward(self, completions: list[str], examples: list[Example]) -> np.ndarray: ...
