"""benches/gpu_throughput.py runs end to end (tiny model, CPU): the real code
path of the GPU figure, exercised where no GPU is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[1]


def test_script_reports_throughput(tmp_path):
    out = tmp_path / "r.json"
    cmd = [
        sys.executable, str(ROOT / "benches" / "gpu_throughput.py"), "--model", "tiny",
        "--device", "cpu", "--sft-steps", "1", "--rl-steps", "1", "--batch", "2", "--seq", "32",
        "--num-prompts", "2", "--num-generations", "2", "--max-new-tokens", "4", "--json", str(out),
    ]  # fmt: skip
    r = subprocess.run(
        cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1")
    )
    assert r.returncode == 0, r.stderr[-3000:]
    d = json.loads(out.read_text())
    assert d["sft_tokens_per_s"] > 0 and d["rl_train_tokens_per_s"] > 0
    assert d["sft_mfu"] is None and d["peak_memory_gib"] is None  # CPU
    assert d["params"] > d["params_non_embedding"] > 0
