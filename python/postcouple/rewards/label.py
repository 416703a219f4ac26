"""Label rewards (classification answers such as CoLA's acceptable/unacceptable)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from postcouple import _core
from postcouple.rewards.math import _threads

__all__ = ["label_reward"]


def label_reward(
    completions: Sequence[str],
    labels: Sequence[str],
    *,
    mode: str = "auto",
    choices: Sequence[str] | None = None,
    case_sensitive: bool = False,
    num_threads: int | None = None,
) -> np.ndarray:
    """1.0 where the extracted answer is the label (classification, e.g. CoLA), else 0.0.

    The answer and the label are compared after stripping ``\\text{}``, ``$``,
    ``**``, quotes and surrounding punctuation, case-insensitively by default.

    Args:
        completions: model outputs.
        labels: one label per completion.
        mode: where the answer is (see :data:`MODES`; ``"tag"`` for ``<answer>X</answer>``).
        choices: the valid labels; a label outside them is a ``ValueError``.
        case_sensitive: compare case-sensitively.
        num_threads: as in :func:`math_reward`.

    Example:
        >>> label_reward(["<answer>acceptable</answer>"], ["acceptable"]).tolist()
        [1.0]
    """
    if choices is not None:
        keys = {c if case_sensitive else c.lower() for c in choices}
        for i, lab in enumerate(labels):
            if not isinstance(lab, str):
                raise TypeError(f"labels[{i}] must be str, got {type(lab).__name__}")
            if (lab if case_sensitive else lab.lower()) not in keys:
                raise ValueError(f"labels[{i}] = {lab!r} is not one of choices {list(choices)}")
    return _core.label_reward(completions, labels, mode, case_sensitive, _threads(num_threads))
