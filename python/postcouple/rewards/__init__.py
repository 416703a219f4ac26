"""Verifiable rewards, scored by the Rust core: math answers, labels, formats.

Model outputs are hostile input. Every function here runs in bounded time and
memory on any string (caps in :func:`reward_caps`; over a cap an item scores
0), never evaluates text as code, uses no ``signal.alarm`` timeouts and is safe
in any thread. Batch functions release the GIL and score in parallel;
results are deterministic.

Conventions (documented defaults):

- an answer that cannot be found or parsed scores **0.0** (it is data, not an
  error);
- a gold that cannot be parsed scores **NaN** in :func:`math_reward` (the TRL
  drop-in turns it into ``None``, TRL's "skip this example");
- a gold may be the answer itself (``"\\frac{1}{2}"``) or a reference solution:
  a ``\\boxed{}`` or a GSM8K ``#### N`` in it is taken as the answer.
- the answer is found as :func:`extract_answer` documents (``mode="auto"``:
  boxes, answer tags, ``####``, "the answer is" / "Answer:", then the last
  ``$...$`` math segment; the last plain number only with
  ``last_number_fallback=True``).

The code lives in :mod:`postcouple.rewards.math`, :mod:`.label` and
:mod:`.format`; this package re-exports it.

Example:
    >>> from postcouple.rewards import math_reward, math_equal
    >>> math_equal("0.5", "\\\\frac{1}{2}")
    True
    >>> math_reward(["so \\\\boxed{1/2}", "The answer is 3."], ["\\\\frac12", "4"]).tolist()
    [1.0, 0.0]
"""

from __future__ import annotations

from postcouple.rewards.format import THINK_ANSWER_PATTERN, format_reward, overlong_penalty
from postcouple.rewards.label import label_reward
from postcouple.rewards.math import MODES, extract_answer, math_equal, math_reward, reward_caps

__all__ = [
    "MODES",
    "THINK_ANSWER_PATTERN",
    "extract_answer",
    "format_reward",
    "label_reward",
    "math_equal",
    "math_reward",
    "overlong_penalty",
    "reward_caps",
]
