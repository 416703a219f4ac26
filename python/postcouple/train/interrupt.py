"""Interruption that saves: on SIGINT/SIGTERM, finish the step, checkpoint, stop.

Usage, in any process that trains (``postcouple train``, and the worker
processes of ``postcouple coupling`` / ``postcouple compare``)::

    from postcouple.train.interrupt import EXIT_INTERRUPTED, TrainingInterrupted, graceful_interrupt

    with graceful_interrupt():
        try:
            run(cfg, resume=resume)
        except TrainingInterrupted as e:
            print(e, file=sys.stderr)  # "interrupted at step N; continue with --resume"
            sys.exit(EXIT_INTERRUPTED)  # 130, as a shell reports a SIGINT death

While the context is active, the first SIGINT or SIGTERM only sets a flag
(:func:`stop_requested`); :func:`postcouple.train.run` checks it after every
step (every optimizer step of SFT; every rollout and its updates for RL, the
unit a checkpoint can resume from), writes a checkpoint atomically and raises
:class:`TrainingInterrupted`. A second signal raises ``KeyboardInterrupt`` at
once (the last complete checkpoint is still intact: checkpoints are written
atomically). Outside the main thread the context installs nothing (Python
delivers signals to the main thread only). Under ``torchrun`` every rank gets
the signal; the ranks agree (one all-reduce per step) and stop at the same step.

Example:
    >>> import os, signal
    >>> from postcouple.train.interrupt import graceful_interrupt, stop_requested
    >>> with graceful_interrupt() as flag:
    ...     os.kill(os.getpid(), signal.SIGTERM)
    ...     stop_requested(), flag.signum == signal.SIGTERM
    (True, True)
    >>> stop_requested()
    False
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

#: Exit code of a command stopped by a signal after saving (128 + SIGINT).
EXIT_INTERRUPTED = 130


class TrainingInterrupted(Exception):
    """Training stopped on request after ``step`` steps, with a checkpoint of that step."""

    def __init__(self, step: int) -> None:
        self.step = step
        super().__init__(f"interrupted at step {step}; continue with --resume")


@dataclass
class InterruptFlag:
    """Set by the first signal a :func:`graceful_interrupt` context receives."""

    requested: bool = False
    signum: int | None = None


_active: list[InterruptFlag] = []


def stop_requested() -> bool:
    """True once an active :func:`graceful_interrupt` context has caught a signal."""
    return any(f.requested for f in _active)


@contextmanager
def graceful_interrupt(
    signals: Sequence[int] = (signal.SIGINT, signal.SIGTERM),
) -> Iterator[InterruptFlag]:
    """Turn the first of ``signals`` into a stop request (see the module docstring)."""
    flag = InterruptFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: Any) -> None:
        if flag.requested:
            raise KeyboardInterrupt
        flag.requested, flag.signum = True, signum
        # os.write, not print: a handler may run in the middle of another write to stderr
        msg = (
            f"\n{signal.Signals(signum).name}: finishing the current step, then saving a"
            " checkpoint (send it again to stop at once)\n"
        )
        os.write(2, msg.encode())

    old = {s: signal.signal(s, handler) for s in signals}
    _active.append(flag)
    try:
        yield flag
    finally:
        _active.remove(flag)
        for s, h in old.items():
            signal.signal(s, h)
