"""Schedules: which stages run, in which order, for how many steps.

Grammar (whitespace ignored)::

    schedule := item ("," item)*
    item     := kind ":" steps | "alt(" schedule ")x" repeats
    kind     := "sft" | "rl" | "joint" | "chord" | "luffy" | "hpt" | "relift" | "uft"

Examples: ``"sft:300,rl:50"`` (the classic two stages), ``"rl:50,sft:100"``,
``"sft:100,rl:50,sft:100"``, ``"alt(sft:10,rl:10)x5"`` (ten blocks),
``"joint:100"``, ``"sft:100,chord:50"``. A step is one optimizer step of that
stage (RL: one rollout). The coupling-management kinds (``chord``, ``luffy``,
``hpt``, ``relift``, ``uft``; one rollout per step each) are described in
their modules, :mod:`postcouple.train.chord` and so on.

Example:
    >>> from postcouple.train.schedule import parse_schedule
    >>> [(s.kind, s.steps) for s in parse_schedule("sft:2,alt(rl:1,sft:1)x2")]
    [('sft', 2), ('rl', 1), ('sft', 1), ('rl', 1), ('sft', 1)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: the coupling-management methods (train/chord.py, ...), each with a config section
METHOD_KINDS = ("chord", "luffy", "hpt", "relift", "uft")
KINDS = ("sft", "rl", "joint", *METHOD_KINDS)


@dataclass(frozen=True)
class StageSpec:
    kind: str
    steps: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"schedule: unknown stage {self.kind!r}; valid: {KINDS}")
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"schedule: steps of {self.kind!r} must be an int >= 1")


_ITEM = re.compile(r"(" + "|".join(KINDS) + r"):(\d+)")
_ALT = re.compile(r"alt\(")


def _parse(s: str, i: int, depth: int) -> tuple[list[StageSpec], int]:
    out: list[StageSpec] = []
    while True:
        if _ALT.match(s, i):
            if depth > 8:
                raise ValueError("schedule: alt(...) nested too deep")
            inner, j = _parse(s, i + 4, depth + 1)
            m = re.compile(r"\)x(\d+)").match(s, j)
            if not m:
                raise ValueError(f"schedule: expected ')xN' at position {j} of {s!r}")
            n = int(m.group(1))
            if n < 1 or n > 100_000:
                raise ValueError(f"schedule: repeat count {n} out of range")
            out += inner * n
            i = m.end()
        else:
            m = _ITEM.match(s, i)
            if not m:
                raise ValueError(
                    f"schedule: expected 'KIND:N' (KIND one of {', '.join(KINDS)}) or"
                    f" 'alt(...)xN' at position {i} of {s!r}"
                )
            out.append(StageSpec(m.group(1), int(m.group(2))))
            i = m.end()
        if i < len(s) and s[i] == ",":
            i += 1
            continue
        return out, i


def parse_schedule(schedule: str) -> list[StageSpec]:
    """Parse a schedule string into a flat list of stages."""
    if not isinstance(schedule, str):
        raise TypeError(f"schedule: expected a string, got {type(schedule).__name__}")
    s = re.sub(r"\s+", "", schedule)
    if not s:
        raise ValueError("schedule: empty")
    stages, i = _parse(s, 0, 0)
    if i != len(s):
        raise ValueError(f"schedule: unexpected {s[i:]!r} at position {i} of {s!r}")
    return stages
