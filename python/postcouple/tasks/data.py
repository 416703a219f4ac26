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

Where the data comes from: ``path`` (``--task-path`` on the command line, or
``task.options.path`` in a config) names local files. Without it, CoLA, GSM8K
and MATH-500 load from the Hugging Face Hub through ``datasets``
(:data:`HUB`: ``nyu-mll/glue`` ``cola``, ``openai/gsm8k`` ``main``,
``HuggingFaceH4/MATH-500``; cached after the first download). When neither
works (no path, and offline or without ``datasets``), a
:class:`MissingDataError` says which flag to set.

Example:
    >>> from postcouple.tasks.data import ColaTask
    >>> task = ColaTask(path="cola")  # a folder with train.tsv, dev.tsv  # doctest: +SKIP
    >>> task.train_examples()[0].response  # doctest: +SKIP
    '<answer>acceptable</answer>'
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from postcouple.rewards import format_reward, label_reward, math_reward
from postcouple.tasks.base import Example

_ANSWER_TAG = re.compile(r"\s*<answer>\s*(.*?)\s*</answer>\s*", re.S)
REWARDS = ("correct", "strict_format", "correct_and_format")

COLA_PROMPT = (
    "Is the following sentence grammatically acceptable? Answer with "
    "<answer>acceptable</answer> or <answer>unacceptable</answer>.\nSentence: {sentence}\n"
)


# -- where the data comes from -------------------------------------------------

#: task -> (Hub dataset, its config, {our split name: the Hub's split})
HUB: dict[str, tuple[str, str | None, dict[str, str]]] = {
    "cola": ("nyu-mll/glue", "cola", {"train": "train", "dev": "validation"}),
    "gsm8k": ("openai/gsm8k", "main", {"train": "train", "test": "test"}),
    "math": ("HuggingFaceH4/MATH-500", None, {"test": "test"}),
}
#: what a local ``path`` must hold, per task (for the messages)
LOCAL = {
    "cola": "a folder with train.tsv and dev.tsv (CoLA's TSV), or one such file",
    "gsm8k": "a folder with train.jsonl and test.jsonl (GSM8K's JSON lines)",
    "math": "a JSON lines file of problem/solution/answer (e.g. MATH-500's test.jsonl)",
    "jsonl": "a JSON lines file",
}
PATH_FLAG = "--task-path (task.options.path)"


class MissingDataError(FileNotFoundError):
    """A task's data is neither at its ``path`` nor reachable on the Hub; says what to set."""


@dataclass(frozen=True)
class HubSplit:
    """One split of a task's Hub dataset (what a task reads when it has no ``path``)."""

    task: str
    split: str

    def __str__(self) -> str:
        repo, config, splits = HUB[self.task]
        return f"{repo}{f' ({config})' if config else ''} split {splits[self.split]!r}"


def data_file(task: str, path: str, name: str) -> Path | HubSplit:
    """The file ``name`` of a task: under ``path`` (a folder), ``path`` itself (a file),
    or, with no ``path``, the matching split on the Hub.

    Raises:
        MissingDataError: ``path`` is set but holds no such file.
    """
    if not path:
        if task not in HUB:
            raise MissingDataError(f"{task}: no data path; set {PATH_FLAG} to {LOCAL[task]}")
        return HubSplit(task, Path(name).stem)
    root = Path(path).expanduser()
    f = root / name if root.is_dir() else root
    if not f.exists():
        raise MissingDataError(
            f"{PATH_FLAG}: no {f} for task {task!r}; expected {LOCAL.get(task, name)}"
        )
    return f


def hub_rows(src: HubSplit) -> list[dict[str, Any]]:
    """The rows of a Hub split through ``datasets`` (offline: from its cache only)."""
    repo, config, splits = HUB[src.task]
    how = f"set {PATH_FLAG} to {LOCAL[src.task]}"
    try:
        import datasets
    except ImportError:
        raise MissingDataError(
            f"{src.task}: no {PATH_FLAG} given, and loading {repo} from the Hugging Face Hub "
            f"needs `datasets` (pip install datasets); or {how}"
        ) from None
    try:
        ds = datasets.load_dataset(repo, config, split=splits[src.split])
    except Exception as e:  # offline and not cached, no network, no such split, ...
        why = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        offline = any(
            os.environ.get(v, "").lower() in ("1", "true", "yes", "on")
            for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
        )
        where = "offline (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE) and not cached" if offline else why
        raise MissingDataError(
            f"{src.task}: no {PATH_FLAG} given, and {src} could not be loaded from the "
            f"Hugging Face Hub ({where}); {how}"
        ) from None
    return [dict(r) for r in ds]


def check_source(task: str, path: str) -> None:
    """Raise :class:`MissingDataError` now if the task's data cannot be found (cheap: the
    Hub is only tried when offline, where its cache answers at once)."""
    names = {"cola": "train.tsv", "gsm8k": "train.jsonl", "math": "test.jsonl", "jsonl": ""}
    src = data_file(task, path, names.get(task, ""))
    if isinstance(src, HubSplit):
        try:
            import datasets  # noqa: F401
        except ImportError:
            hub_rows(src)  # raises the message that names the flag
        offline = any(
            os.environ.get(v, "").lower() in ("1", "true", "yes", "on")
            for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
        )
        if offline:
            hub_rows(src)


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
class _TrainEvalFiles(_Split):
    """A task read from a train file and a held-out file (``FILES``) in the folder
    ``path`` ("" = the task's Hub dataset); the first ``num_train`` / ``num_eval``
    of each after a shuffle seeded by ``seed`` (None = all)."""

    FILES: ClassVar[tuple[str, str, str]]  # (data_file's task name, train file, held-out file)
    path: str = ""
    num_train: int | None = None
    num_eval: int | None = 512
    seed: int = 0

    def __post_init__(self) -> None:
        task, train, held_out = self.FILES
        self._train = self._load(data_file(task, self.path, train), self.num_train)
        self._eval = self._load(data_file(task, self.path, held_out), self.num_eval)

    def _load(self, f: Path | HubSplit, limit: int | None) -> list[Example]:
        raise NotImplementedError


@dataclass
class ColaTask(_TrainEvalFiles):
    """CoLA with a strict answer format (see the module docstring). ``path`` is a
    folder with train.tsv / dev.tsv, or one TSV; "" = the Hub (GLUE cola)."""

    FILES = ("cola", "train.tsv", "dev.tsv")
    reward_type: str = "correct_and_format"
    name: str = "cola"

    def __post_init__(self) -> None:
        _check_reward(self.reward_type)
        super().__post_init__()

    def _load(self, f: Path | HubSplit, limit: int | None) -> list[Example]:
        out = []
        for source, label, sentence in _cola_rows(f):
            gold = "acceptable" if label == "1" else "unacceptable"
            out.append(
                Example(
                    COLA_PROMPT.format(sentence=sentence.strip()),
                    f"<answer>{gold}</answer>",
                    gold,
                    {"source": source},
                )
            )
        return _shuffled(out, self.seed, limit)

    def reward(self, completions: list[str], examples: list[Example]) -> np.ndarray:
        return tag_reward(completions, _golds(completions, examples), self.reward_type)


def _cola_rows(f: Path | HubSplit) -> list[tuple[str, str, str]]:
    """(source, "0"/"1" label, sentence) rows of CoLA's TSV or of GLUE cola on the Hub."""
    if isinstance(f, HubSplit):
        return [("", str(r["label"]), r["sentence"]) for r in hub_rows(f)]
    out = []
    with open(f, newline="", encoding="utf-8") as fh:
        for i, row in enumerate(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)):
            if len(row) != 4 or row[1] not in ("0", "1"):
                raise ValueError(
                    f"{f}:{i + 1}: expected 4 tab-separated fields with a 0/1 label, got {row!r}"
                )
            out.append((row[0], row[1], row[3]))
    return out


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
            raise MissingDataError(f"jsonl: no data path; set {PATH_FLAG} to {LOCAL['jsonl']}")
        rows = self._load(data_file("jsonl", self.path, ""))
        if self.eval_path:
            self._train, self._eval = rows, self._load(Path(self.eval_path))
        else:
            k = min(self.num_eval, len(rows) // 2)
            self._train, self._eval = rows[: len(rows) - k], rows[len(rows) - k :]

    def _load(self, f: Path | HubSplit) -> list[Example]:
        fields = (self.prompt_field, self.response_field, self.answer_field)
        return [
            Example(str(d[fields[0]]), str(d[fields[1]]), str(d[fields[2]]).strip().lower())
            for d in _read_jsonl(f, fields)
        ]

    def reward(self, completions: list[str], examples: list[Example]) -> np.ndarray:
        return tag_reward(completions, _golds(completions, examples), self.reward_type)


GSM8K_PROMPT = "Question: {question}\nSolve it step by step; end with '#### <number>'.\nAnswer: "
MATH_PROMPT = "Problem: {problem}\nSolve it; put the final answer in \\boxed{{}}.\nSolution: "


def _read_jsonl(f: Path | HubSplit, fields: tuple[str, ...]) -> list[dict]:
    """The rows of a JSON lines file (or a Hub split), each checked for ``fields``."""
    if isinstance(f, HubSplit):
        rows = hub_rows(f)
        missing = [k for k in fields if rows and k not in rows[0]]
        if missing:
            raise ValueError(f"{f}: missing field(s) {missing}")
        return rows
    if not f.exists():
        raise MissingDataError(f"{PATH_FLAG}: {f} does not exist")
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
class Gsm8kTask(_TrainEvalFiles):
    """GSM8K (see the module docstring): ``path`` holds ``train.jsonl`` and ``test.jsonl``
    ("" = ``openai/gsm8k`` on the Hub)."""

    FILES = ("gsm8k", "train.jsonl", "test.jsonl")
    name: str = "gsm8k"

    def _load(self, f: Path | HubSplit, limit: int | None) -> list[Example]:
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
    split into train and the last ``num_eval`` rows held out (after a seeded shuffle);
    "" = ``HuggingFaceH4/MATH-500`` on the Hub."""

    path: str = ""
    num_eval: int = 100
    seed: int = 0
    name: str = "math"

    def __post_init__(self) -> None:
        rows = _read_jsonl(
            data_file("math", self.path, "test.jsonl"), ("problem", "solution", "answer")
        )
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
