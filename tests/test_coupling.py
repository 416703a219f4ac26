"""The coupling experiment: the theory's estimator against exact values, the job
graph, the statistics, and the whole pipeline end to end at a tiny scale."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from postcouple.coupling.diagnostics import (
    c1_from_rewards,
    first_negative,
    log_mean_exp,
    paired_test,
)
from postcouple.coupling.experiment import plan
from postcouple.coupling.presets import PRESETS


@pytest.mark.parametrize("beta", [0.05, 0.3, 1.0, 4.0])
def test_c1_equals_the_exact_rise_of_the_sft_loss(beta):
    # one prompt, 4 responses; p_SFT is a multiple of 1/8 so 8 "samples" are exact
    r = np.array([1.0, 0.0, 0.5, 0.0])
    p_sft = np.array([3, 2, 1, 2]) / 8
    p_d = np.array([0.4, 0.3, 0.1, 0.2])
    p_rl = p_sft * np.exp(r / beta)
    p_rl /= p_rl.sum()
    exact_rise = -(p_d * np.log(p_rl)).sum() + (p_d * np.log(p_sft)).sum()
    samples = np.repeat(r, (p_sft * 8).astype(int))[None, :]  # (1, 8)
    c1 = c1_from_rewards(samples, float((p_d * r).sum()), beta)
    assert c1["c1"] == pytest.approx(exact_rise, rel=1e-9, abs=1e-12)


def test_c1_is_nonnegative_when_p_sft_is_the_sft_optimum():
    rng = np.random.default_rng(0)
    for _ in range(50):
        r = rng.random(6)
        p = rng.dirichlet(np.ones(6))
        n = 10_000
        counts = np.floor(p * n).astype(int)
        samples = np.repeat(r, counts)[None, :]
        p_emp = counts / counts.sum()  # p_SFT = p_D exactly
        c1 = c1_from_rewards(samples, float((p_emp * r).sum()), float(rng.uniform(0.05, 3)))
        assert c1["c1"] >= -1e-12


def test_log_mean_exp_is_stable():
    x = np.array([[1000.0, 1000.0], [-1000.0, -1000.0]])
    assert np.allclose(log_mean_exp(x, 1), [1000.0, -1000.0])
    assert log_mean_exp(np.array([0.0, math.log(3)])) == pytest.approx(math.log(2))


def test_c1_bad_input():
    with pytest.raises(ValueError, match="beta"):
        c1_from_rewards(np.zeros((2, 2)), 0.0, 0.0)
    with pytest.raises(ValueError, match="sampled"):
        c1_from_rewards(np.zeros(3), 0.0, 1.0)


def test_paired_test_directions():
    up = paired_test([1.0, 2.0, 3.0], [2.0, 3.5, 4.2], "greater")
    assert up["p_value"] < 0.05 and up["mean_diff"] > 0
    assert paired_test([1.0, 2.0, 3.0], [2.0, 3.5, 4.2], "less")["p_value"] > 0.9
    same = paired_test([1.0, 2.0], [2.0, 3.0], "greater")  # zero-variance difference
    assert same["p_value"] == 0.0
    assert first_negative([0, 5, 10], [0.3, -0.1, -0.2]) == 5
    assert first_negative([0, 5], [0.3, float("nan")]) is None


def test_plan_has_every_protocol_and_valid_dependencies(tmp_path):
    jobs = plan(PRESETS["tiny-arith"], tmp_path, seeds=(0, 1))
    names = {j.name for j in jobs}
    for s in (0, 1):
        for n in ("base", "sft_rl", "rl_sft", "c1", "half", "alt_15", "joint_0.3", "beta_0.5"):
            assert f"seed{s}/{n}" in names
    for j in jobs:
        assert all(a in names for a in j.after)
    rl_sft = next(j for j in jobs if j.name == "seed1/rl_sft")
    assert rl_sft.after == ["seed1/sft_rl"] and rl_sft.cfg.init_from.endswith("seed1/sft_rl")
    beta = next(j for j in jobs if j.name == "seed0/beta_0.5")
    assert beta.cfg.rl.use_kl_in_reward and beta.cfg.rl.beta == 0.5
    assert beta.cfg.rl.estimator == "rloo" and beta.cfg.rl.loss_agg_mode == "seq-mean-token-sum"


def test_main_job_end_to_end_at_small_scale(tmp_path):
    """`postcouple coupling` on 2 seeds at 4% of the default lengths: every
    artefact is written and holds every protocol."""
    out = tmp_path / "c"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "postcouple",
            "coupling",
            "--out",
            str(out),
            "--scale",
            "0.04",
            "--seeds",
            "0,1",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Claim 1" in r.stdout and "Claim 2" in r.stdout
    summ = json.loads((out / "summary.json").read_text())
    assert summ["seeds"] == [0, 1]
    p1, p2 = summ["sft_then_rl"], summ["rl_then_sft"]
    for k in ("sft_loss_before", "sft_loss_after"):
        assert set(p1[k]) == {"mean", "std"}
    assert len(p1["per_seed"]["before"]) == 2 and "p_value" in p1 and p1["verdict"]
    assert "reward_before" in p2 and "reward_after" in p2 and p2["verdict"]
    assert [c["beta"] for c in summ["c1"]] == list(PRESETS["tiny-arith"].betas)
    assert len(summ["schedules"]["rows"]) == 6
    assert any(row["pareto"] for row in summ["schedules"]["rows"])
    for f in (
        "report.md",
        "sft_loss_through_rl.png",
        "reward_through_sft.png",
        "grad_cosine.png",
        "pareto.png",
    ):
        assert (out / f).stat().st_size > 0, f
    md = (out / "report.md").read_text()
    assert "Claim 1" in md and "| beta |" in md
    # a second call with --resume: every job is done, only the report is rebuilt
    r2 = subprocess.run(
        [
            sys.executable,
            "-m",
            "postcouple",
            "coupling",
            "--resume",
            "--out",
            str(out),
            "--scale",
            "0.04",
            "--seeds",
            "0,1",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        timeout=120,
    )
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert json.loads((out / "summary.json").read_text())["sft_then_rl"] == p1
