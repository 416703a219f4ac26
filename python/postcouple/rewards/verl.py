"""verl drop-in: ``compute_score`` with verl's custom-reward signature.

Point verl at it with ``custom_reward_function.path=<this file>`` and
``custom_reward_function.name=compute_score``, or call it from a reward
manager. The data source picks the extraction, as verl's
``default_compute_score`` does:

- GSM8K sources (``openai/gsm8k``): the answer after ``####`` (verl's ``strict``
  method); ``extra_info={"method": "flexible"}`` falls back to the last number;
- MATH sources (``lighteval/MATH``, ``DigitalLearningGmbH/MATH-lighteval``,
  ``HuggingFaceH4/MATH-500``, ...): the last ``\\boxed{}``;
- anything else: ``mode="auto"``.

Returns 1.0 or 0.0 (0.0 also for an unparseable ground truth, since verl
expects a float).

Example:
    >>> compute_score("openai/gsm8k", "... #### 72", "72")
    1.0
"""

from __future__ import annotations

import math
from typing import Any

from postcouple import rewards as _r

__all__ = ["compute_score"]

_GSM8K = ("openai/gsm8k", "gsm8k")
_MATH = (
    "lighteval/MATH",
    "DigitalLearningGmbH/MATH-lighteval",
    "HuggingFaceH4/MATH-500",
    "math_dapo",
    "math",
)


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: dict[str, Any] | None = None,
    **kwargs: Any,
) -> float:
    if not isinstance(solution_str, str):
        raise TypeError(f"solution_str must be str, got {type(solution_str).__name__}")
    if not isinstance(ground_truth, str):
        ground_truth = str(ground_truth)
    method = (extra_info or {}).get("method", "strict")
    if data_source in _GSM8K:
        mode, fallback = ("auto", True) if method == "flexible" else ("gsm8k", False)
    elif data_source in _MATH or data_source.startswith("math"):
        mode, fallback = "boxed", False
    else:
        mode, fallback = "auto", False
    s = _r.math_reward(
        [solution_str], [ground_truth], mode=mode, last_number_fallback=fallback, num_threads=1
    )
    v = float(s[0])
    return 0.0 if math.isnan(v) else v
