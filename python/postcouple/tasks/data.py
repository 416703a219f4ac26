"""Tasks on real data files: CoLA (the paper's experiment) and a generic JSONL.

- :class:`ColaTask` — CoLA TSV (``source, label, original mark, sentence``, no
  header; ``train.tsv`` for training, ``dev.tsv`` held out). The model must
  answer in a strict format, ``<answer>acceptable</answer>`` or
  ``<answer>unacceptable</answer>``; the reward is the paper's strict
  answer-format reward (format and label both right), or either part alone.
- :class:`JsonlTask` — any JSON lines file of ``{"prompt", "response",
  "answer"}`` (field names configurable), rewarded by exact match of the
  answer in an ``<answer>...</answer>`` tag (or the whole completion).

- :class:`Gsm8kTask` — GSM8K JSON lines (``{"question", "answer"}``): the expert
  response is the reference solution (calculator annotations ``<<..>>``
  dropped) ending in ``#### N``; the reward is the Rust math verifier of
  :func:`postcouple.rewards.math_reward` (any of ``\\boxed{}``, ``#### N``,
  "the answer is N" counts; the value is compared, not the string).
- :class:`MathTask` — MATH-style JSON lines (``{"problem", "solution",
  "answer"}``, e.g. MATH-500), the same verifier on the last ``\\boxed{}``.

Every reward here is computed by the Rust core (``postcouple.rewards``).

Example:
    >>> from postcouple.tasks.data import ColaTask
    >>> task = ColaTask(path="../shared/data/cola")  # doctest: +SKIP
    >>> task.train_examples()[0].response  # doctest: +SKIP
    '<answer>acceptable</answer>'
"""

from __future__ import annotations

import csv
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from postcouple.rewards import format_reward, label_reward, math_reward
from postcouple.tasks.base import Example

_ANSWER_TAG = re.compile(r"\s*<answer>\s*(.*?)\s*</answer>\s*", re.S)
REWARDS = ("correct", "strict_format", "correct_and_format")

COLA_PROMPT = (
    "Is the following sentence grammatically acceptable? Answer with "
    "<answer>acceptable</answer> or <answer>unacceptable</answer>.\nSentence: {sentence}\n"
)


def _check_reward(reward_type: str) -> None:
    if reward_type not in REWARDS:
        raise ValueError(f"reward_type: expected one of {REWARDS}, got {reward_type!r}")


def _tag_score(completion: str, gold: str, reward_type: str) -> float:
    """Strict tag format ``<answer>X</answer>`` (nothing else) and/or the right X.

    "correct" alone accepts the answer in a tag anywhere, or the last word.
    """
    m = _ANSWER_TAG.fullmatch(completion)
    if reward_type == "strict_format":
        return float(m is not None)
    if reward_type == "correct_and_format":
        return float(m is not None and m.group(1).strip().lower() == gold)
    tags = re.findall(r"<answer>\s*(.*?)\s*</answer>", completion, re.S)
    if tags:
        return float(tags[-1].strip().lower() == gold)
    words = re.findall(r"[A-Za-z0-9.\-]+", completion)
    return float(bool(words) and words[-1].lower().strip(".") == gold)


class _Split:
    """The loaded examples of a task: ``_train`` (expert data) and ``_eval`` (held out)."""

    _train: list[Example]
    _eval: list[Example]

    def train_examples(self) -> list[Example]:
        return self._train

    def eval_examples(self) -> list[Example]:
        return self._eval

    # expert solutions for the SFT+RL methods (train/chord.py, luffy.py, ...):
    # the reference solution (GSM8K, MATH), the formatted label (CoLA), the
    # response field (JSONL); ``rng`` is accepted for the common signature
    def expert_solution(self, example: Example, rng: object = None) -> str:
        """The example's reference solution (its SFT response)."""
        return example.response

    def expert_solutions(self, examples: list[Example], rng: object = None) -> list[str]:
        """:meth:`expert_solution` of each example."""
        return [e.response for e in examples]


def _golds(completions: list[str], examples: list[Example]) -> list[str]:
    if len(completions) != len(examples):
        raise ValueError(f"completions: got {len(completions)} for {len(examples)} examples")
    return [e.answer for e in examples]


def _shuffled(out: list[Example], seed: int, limit: int | None) -> list[Example]:
    random.Random(seed).shuffle(out)
    return out[:limit] if limit else out


@dataclass
class ColaTask(_Split):
    """CoLA with a strict answer format (see the module docstring)."""

    path: str = "../shared/data/cola"
    reward_type: str = "correct_and_format"
    num_train: int | None = None
    num_eval: int | None = 512
    seed: int = 0
    name: str = "cola"

    def __post_init__(self) -> None:
        _check_reward(self.reward_type)
        root = Path(self.path)
        train_f = root / "train.tsv" if root.is_dir() else root
        dev_f = root / "dev.tsv" if root.is_dir() else root
        for f in (train_f, dev_f):
            if not f.exists():
                raise FileNotFoundError(f"path: no CoLA file {f} (expected train.tsv, dev.tsv)")
        self._train = self._load(train_f, self.num_train)
        self._eval = self._load(dev_f, self.num_eval)

    def _load(self, f: Path, limit: int | None) -> list[Example]:
        out = []
        with open(f, newline="", encoding="utf-8") as fh:
            for i, row in enumerate(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)):
                if len(row) != 4 or row[1] not in ("0", "1"):
                    raise ValueError(
                        f"{f}:{i + 1}: expected 4 tab-separated fields with a 0/1 "
                        f"label, got {row!r}"
                    )
                gold = "acceptable" if row[1] == "1" else "unacceptable"
                out.append(
                    Example(
                        COLA_PROMPT.format(sentence=row[3].strip()),
                        f"<answer>{gold}</answer>",
                        gold,
                        {"source": row[0]},
                    )
                )
        return _shuffled(out, self.seed, limit)

    def reward(self, completions: list[str], examples: list[Example]) -> np.ndarray:
        return tag_reward(completions, _golds(completions, examples), self.reward_type)


def tag_reward(completions: list[str], golds: list[str], reward_type: str) -> np.ndarray:
    """The strict ``<answer>X</answer>`` rewards, scored by the Rust core.

    - ``strict_format``: the whole completion is one answer tag (whitespace around);
    - ``correct_and_format``: that, with X equal to the gold (case-insensitive);
    - ``correct``: the last answer tag anywhere holds the gold, or, with no tag,
      the last word is the gold.
    """
    _check_reward(reward_type)
    if reward_type == "strict_format":
        return format_reward(completions, pattern=r"\s*<answer>.*?</answer>\s*", num_threads=1)
    if reward_type == "correct_and_format":
        out = np.zeros(len(completions), dtype=np.float32)
        for g in sorted(set(golds)):
            idx = [i for i, x in enumerate(golds) if x == g]
            pat = r"(?i)\s*<answer>\s*" + re.escape(g) + r"\s*</answer>\s*"
            out[idx] = format_reward([completions[i] for i in idx], pattern=pat, num_threads=1)
        return out
    out = label_reward(completions, golds, mode="tag", num_threads=1)
    for i, c in enumerate(completions):
        if "</answer>" not in c:  # no tag: the last word
            out[i] = _tag_score(c, golds[i], "correct")
    return out


@dataclass
class JsonlTask(_Split):
    """Generic JSON lines of prompt / response / answer (see the module docstring)."""

    path: str = ""
    eval_path: str = ""  # default: the last ``num_eval`` rows of ``path``
    prompt_field: str = "prompt"
    response_field: str = "response"
    answer_field: str = "answer"
    reward_type: str = "correct"
    num_eval: int = 256
    name: str = "jsonl"

    def __post_init__(self) -> None:
        _check_reward(self.reward_type)
        if not self.path:
            raise ValueError("path: a JSONL file is required")
        rows = self._load(Path(self.path))
        if self.eval_path:
            self._train, self._eval = rows, self._load(Path(self.eval_path))
        else:
            k = min(self.num_eval, len(rows) // 2)
            self._train, self._eval = rows[: len(rows) - k], rows[len(rows) - k :]

    def _load(self, f: Path) -> list[Example]:
        fields = (self.prompt_field, self.response_field, self.answer_field)
        return [
            Example(str(d[fields[0]]), str(d[fields[1]]), str(d[fields[2]]).strip().lower())
            for d in _read_jsonl(f, fields)
        ]

    def reward(self, completions: list[str], examples: list[Example]) -> np.ndarray:
        return tag_reward(completions, _golds(completions, examples), self.reward_type)


GSM8K_PROMPT = "Question: {question}\nSolve it step by step; end with '#### <number>'.\nAnswer: "
MATH_PROMPT = "Problem: {problem}\nSolve it; put the final answer in \\boxed{{}}.\nSolution: "


def _read_jsonl(f: Path, fields: tuple[str, ...]) -> list[dict]:
    if not f.exists():
        raise FileNotFoundError(f"path: {f} does not exist")
    rows = []
    with open(f, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{f}:{i + 1}: not JSON ({e})") from None
            missing = [k for k in fields if k not in d]
            if missing:
                raise ValueError(f"{f}:{i + 1}: missing field(s) {missing}")
            rows.append(d)
    return rows


def _math_reward(completions: list[str], examples: list[Example], mode: str) -> np.ndarray:
    # one thread: the trainer runs one process per core (see the Makefile)
    return math_reward(completions, _golds(completions, examples), mode=mode, num_threads=1)


@dataclass
class Gsm8kTask(_Split):
    """GSM8K (see the module docstring): ``path`` holds ``train.jsonl`` and ``test.jsonl``."""

    path: str = "../shared/data/gsm8k"
    num_train: int | None = None
    num_eval: int | None = 512
    seed: int = 0
    name: str = "gsm8k"

    def __post_init__(self) -> None:
        root = Path(self.path)
        self._train = self._load(root / "train.jsonl", self.num_train)
        self._eval = self._load(root / "test.jsonl", self.num_eval)

    def _load(self, f: Path, limit: int | None) -> list[Example]:
        out = []
        for d in _read_jsonl(f, ("question", "answer")):
            body, sep, final = d["answer"].rpartition("####")
            if not sep:
                raise ValueError(f"{f}: an answer without '#### N': {d['answer'][-80:]!r}")
            body = re.sub(r"<<[^>]*>>", "", body).strip()
            gold = final.strip().replace(",", "")
            out.append(
                Example(
                    GSM8K_PROMPT.format(question=d["question"].strip()),
                    f"{body}\n#### {gold}",
                    gold,
                )
            )
        return _shuffled(out, self.seed, limit)

    def reward(self, completions: list[str], examples: list[Example]) -> np.ndarray:
        return _math_reward(completions, examples, "auto")


@dataclass
class MathTask(_Split):
    """MATH-style problems (see the module docstring); ``path`` is one JSONL file,
    split into train and the last ``num_eval`` rows held out (after a seeded shuffle)."""

    path: str = "../shared/data/math500/test.jsonl"
    num_eval: int = 100
    seed: int = 0
    name: str = "math"

    def __post_init__(self) -> None:
        rows = _read_jsonl(Path(self.path), ("problem", "solution", "answer"))
        ex = [
            Example(
                MATH_PROMPT.format(problem=d["problem"].strip()), d["solution"].strip(), d["answer"]
            )
            for d in rows
        ]
        ex = _shuffled(ex, self.seed, None)
        k = min(self.num_eval, len(ex) // 2)
        self._train, self._eval = ex[: len(ex) - k], ex[len(ex) - k :]

    def reward(self, completions: list[str], examples: list[Example]) -> np.ndarray:
        return _math_reward(completions, examples, "boxed")
