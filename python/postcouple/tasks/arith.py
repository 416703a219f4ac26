"""The embedded default task: synthetic arithmetic with an exact verifier.

Prompts are ``"a+b="`` (operands drawn uniformly from ``0..max_operand``);
the gold answer is ``a+b``. Expert responses are generated, not collected, so
the two things that govern the size of the paper's effects are knobs:

- ``formats``: the expert writes the answer in more than one valid format,
  with the given weights (default half ``"<a>c</a>"``, half ``"c"``);
- ``wrong_fraction``: this fraction of expert answers is off by a small
  amount (default 0.2).

The reward decides what RL pushes towards:

- ``"correct"``: the last integer in the completion equals ``a+b``;
- ``"strict_format"``: the completion is exactly the strict format
  (``formats[strict_format]``) around some integer;
- ``"correct_and_format"`` (default, the paper's strict answer-format
  reward): both.

With ``formats={"tag": 1.0}``, ``wrong_fraction=0`` the expert always earns
the reward, so an SFT-converged model has all-correct GRPO groups and RL has
no gradient: the theory's boundary case, where neither effect shows.

Because the expert distribution p_D is known exactly, the task also gives
``expert_logprob(example)``: log p_D(response | prompt), which turns the SFT
loss into an exact KL(p_D || policy) and is the entropy term of C1(beta).

Example:
    >>> from postcouple.tasks.arith import ArithTask
    >>> task = ArithTask(seed=0, num_train=4)
    >>> ex = task.train_examples()[0]
    >>> float(task.reward([ex.response], [ex])[0]) in (0.0, 1.0)
    True
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from postcouple.tasks.base import Example

#: Answer formats; ``{c}`` is replaced by the answer.
FORMATS: dict[str, str] = {
    "tag": "<a>{c}</a>",
    "plain": "{c}",
    "sentence": "ans {c}",
}
REWARDS = ("correct", "strict_format", "correct_and_format")
_WRONG_DELTAS = (-2, -1, 1, 2)
_LAST_INT = re.compile(r"-?\d+")


@dataclass
class ArithTask:
    """Synthetic ``a+b=`` task; see the module docstring for the knobs."""

    seed: int = 0
    max_operand: int = 19
    num_train: int = 20000
    num_eval: int = 512
    formats: Mapping[str, float] = field(default_factory=lambda: {"tag": 0.5, "plain": 0.5})
    wrong_fraction: float = 0.2
    reward_type: str = "correct_and_format"
    strict_format: str = "tag"
    name: str = "arith"

    def __post_init__(self) -> None:
        if not isinstance(self.max_operand, int) or self.max_operand < 1:
            raise ValueError(f"max_operand: expected an int >= 1, got {self.max_operand!r}")
        if not 0.0 <= float(self.wrong_fraction) < 1.0:
            raise ValueError(f"wrong_fraction: expected 0 <= x < 1, got {self.wrong_fraction!r}")
        if not self.formats:
            raise ValueError("formats: expected at least one format")
        for k, w in self.formats.items():
            if k not in FORMATS:
                raise ValueError(f"formats: unknown format {k!r}; valid: {sorted(FORMATS)}")
            if not (isinstance(w, (int, float)) and w >= 0):
                raise ValueError(f"formats: weight of {k!r} must be a number >= 0, got {w!r}")
        total = float(sum(self.formats.values()))
        if total <= 0:
            raise ValueError("formats: weights sum to 0")
        self._weights = {k: float(w) / total for k, w in self.formats.items()}
        if self.reward_type not in REWARDS:
            raise ValueError(f"reward_type: expected one of {REWARDS}, got {self.reward_type!r}")
        if self.strict_format not in FORMATS:
            raise ValueError(
                f"strict_format: unknown format {self.strict_format!r}; valid: {sorted(FORMATS)}"
            )
        pre, _, post = FORMATS[self.strict_format].partition("{c}")
        self._strict = re.compile(re.escape(pre) + r"(-?\d+)" + re.escape(post))
        self._train = self._make(self.num_train, self.seed * 2 + 1)
        self._eval = self._make(self.num_eval, self.seed * 2 + 2)

    # -- data ---------------------------------------------------------------

    def _make(self, n: int, seed: int) -> list[Example]:
        rng = random.Random(seed)
        names = list(self._weights)
        weights = [self._weights[k] for k in names]
        out = []
        for _ in range(n):
            a, b = rng.randint(0, self.max_operand), rng.randint(0, self.max_operand)
            c = a + b
            fmt = rng.choices(names, weights)[0]
            shown = c
            if rng.random() < self.wrong_fraction:
                shown = max(0, c + rng.choice(_WRONG_DELTAS))
                if shown == c:
                    shown = c + 1
            out.append(
                Example(
                    prompt=f"{a}+{b}=",
                    response=FORMATS[fmt].format(c=shown),
                    answer=str(c),
                    meta={"format": fmt, "wrong": shown != c},
                )
            )
        return out

    def train_examples(self) -> list[Example]:
        return self._train

    def eval_examples(self) -> list[Example]:
        return self._eval

    # -- verifier -----------------------------------------------------------

    def _score(self, completion: str, answer: str) -> float:
        text = completion.strip()
        m = self._strict.fullmatch(text)
        fmt_ok = m is not None
        if self.reward_type == "strict_format":
            return float(fmt_ok)
        if self.reward_type == "correct_and_format":
            return float(m is not None and m.group(1) == answer)
        ints = _LAST_INT.findall(text)
        return float(bool(ints) and ints[-1] == answer)

    def reward(self, completions: list[str], examples: list[Example]) -> np.ndarray:
        """1.0 / 0.0 per completion under ``reward_type`` (float32, shape (B,))."""
        if len(completions) != len(examples):
            raise ValueError(f"completions: got {len(completions)} for {len(examples)} examples")
        return np.array(
            [self._score(c, e.answer) for c, e in zip(completions, examples)], dtype=np.float32
        )

    # -- the expert distribution, exactly ------------------------------------

    def expert_distribution(self, example: Example) -> dict[str, float]:
        """p_D(response | prompt) for every response the expert can write."""
        c = int(example.answer)
        wrong: dict[int, float] = {}
        for d in _WRONG_DELTAS:
            v = max(0, c + d)
            if v == c:
                v = c + 1
            wrong[v] = wrong.get(v, 0.0) + 1.0 / len(_WRONG_DELTAS)
        answers = {c: 1.0 - self.wrong_fraction}
        for v, p in wrong.items():
            answers[v] = answers.get(v, 0.0) + self.wrong_fraction * p
        dist: dict[str, float] = {}
        for fmt, wf in self._weights.items():
            for v, pa in answers.items():
                if wf * pa > 0:
                    s = FORMATS[fmt].format(c=v)
                    dist[s] = dist.get(s, 0.0) + wf * pa
        return dist

    # -- expert solutions for the SFT+RL methods (train/chord.py, luffy.py, ...) --

    def expert_solution(self, example: Example, rng: np.random.Generator | None = None) -> str:
        """A fresh sample y* ~ p_D(. | prompt) of the expert distribution (it may be
        wrong or in a non-strict format, as the expert is). ``rng``: numpy's
        ``Generator`` (the trainer passes one seeded by run seed and step);
        None draws from a fresh, unseeded one.

        Example:
            >>> from postcouple.tasks.arith import ArithTask
            >>> t = ArithTask(num_train=4, formats={"tag": 1.0}, wrong_fraction=0.0)
            >>> t.expert_solution(t.train_examples()[0]) == t.train_examples()[0].response
            True
        """
        dist = self.expert_distribution(example)
        rng = rng if rng is not None else np.random.default_rng()
        keys = list(dist)
        p = np.asarray([dist[k] for k in keys], dtype=np.float64)
        return keys[int(rng.choice(len(keys), p=p / p.sum()))]

    def expert_solutions(
        self, examples: list[Example], rng: np.random.Generator | None = None
    ) -> list[str]:
        """:meth:`expert_solution` of each example, drawn in order from one ``rng``."""
        rng = rng if rng is not None else np.random.default_rng()
        return [self.expert_solution(e, rng) for e in examples]

    def expert_logprob(self, example: Example) -> float:
        p = self.expert_distribution(example).get(example.response, 0.0)
        return math.log(p) if p > 0 else -math.inf

    def expert_reward_rate(self) -> float:
        """E_{y~p_D}[r]: the fraction of expert responses that earn the reward."""
        ex = self._eval
        return float(np.mean(self.reward([e.response for e in ex], ex)))
