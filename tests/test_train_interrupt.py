"""Interruption with real signals: the step finishes, a checkpoint is written, the
command exits 130, and ``--resume`` reproduces the uninterrupted run exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from postcouple.train import run
from postcouple.train.checkpoint import latest_checkpoint
from postcouple.train.interrupt import (
    EXIT_INTERRUPTED,
    TrainingInterrupted,
    graceful_interrupt,
    stop_requested,
)
from test_train import (
    assert_resume_equals,
    at_step,
    read,
    sft6_cfg,
    start_beside_reference,
)


def _train_steps(out) -> int:
    f = out / "metrics.jsonl"
    if not f.exists():
        return 0
    lines = f.read_text().splitlines()
    return sum(json.loads(x)["kind"] == "train" for x in lines if x.endswith("}"))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_saves_and_resume_equals_uninterrupted(tmp_path, sig):
    # checkpoints only at stage ends: the interrupt must write its own
    p = start_beside_reference(tmp_path, "int", 100, stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while _train_steps(tmp_path / "int") < 2 and time.time() < deadline and p.poll() is None:
        time.sleep(0.01)
    p.send_signal(sig)
    out, err = p.communicate(timeout=300)
    assert p.returncode == EXIT_INTERRUPTED == 130, err[-3000:]
    assert not (tmp_path / "int" / "final").exists(), "the run finished before the signal"
    n = int(err.split("interrupted at step ")[1].split(";")[0])
    assert f"interrupted at step {n}; continue with --resume" in err
    assert 2 <= n < 13
    assert latest_checkpoint(tmp_path / "int" / "checkpoints").name == f"step-{n:08d}"
    assert _train_steps(tmp_path / "int") == n  # the step in flight finished and was logged
    assert_resume_equals(tmp_path / "int.toml", tmp_path / "int", tmp_path / "ref")


def test_interrupt_inside_run_checkpoints_the_step(tmp_path):
    cfg = sft6_cfg(tmp_path / "r", checkpoint_interval=100)
    signal_at_2 = at_step(2, lambda ctx: os.kill(os.getpid(), signal.SIGINT))
    with graceful_interrupt() as flag:
        with pytest.raises(TrainingInterrupted, match="interrupted at step 2; continue"):
            run(cfg, hooks=[signal_at_2])
    assert flag.signum == signal.SIGINT
    assert latest_checkpoint(tmp_path / "r" / "checkpoints").name == "step-00000002"
    run(cfg, resume=True)
    run(sft6_cfg(tmp_path / "ref", checkpoint_interval=100))
    assert read(tmp_path / "r") == read(tmp_path / "ref")


def test_graceful_interrupt_flag_second_signal_and_restore():
    before = signal.getsignal(signal.SIGINT)
    with graceful_interrupt() as flag:
        assert not stop_requested()
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
        assert flag.requested and stop_requested()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
    assert signal.getsignal(signal.SIGINT) is before
    assert not stop_requested()
