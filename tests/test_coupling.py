"""The coupling experiment: the theory's estimator against exact values, the job
graph, the statistics, and the whole pipeline end to end at a tiny scale."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from cli_run import run_postcouple
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
    # annealed, so that the policy settles at the optimum the prediction is stated for
    assert beta.cfg.rl.lr_scheduler_type == "cosine" and beta.steps == 300


def test_main_job_end_to_end_at_small_scale(tmp_path):
    """`postcouple coupling` on 2 seeds at 4% of the default lengths: every
    artefact is written and holds every protocol."""
    out = tmp_path / "c"
    args = ("coupling", "--out", str(out), "--scale", "0.04", "--seeds", "0,1", "--no-progress")
    r = run_postcouple(*args)
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
    r2 = run_postcouple(*args, "--resume", timeout=120)
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert json.loads((out / "summary.json").read_text())["sft_then_rl"] == p1


# -- the report: how the run was made, reduced runs, C1 caveats, the theory check -------


def _write_evals(d, points, *, grad_cos=None):
    """A finished run whose evaluations at steps 0, 10, 20, ... have the given
    (sft_nll_seq, reward) values."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "final").mkdir(exist_ok=True)
    lines = []
    for i, (loss, rew) in enumerate(points):
        rec = {
            "kind": "eval",
            "stage": "rl",
            "stage_index": 0,
            "step": 10 * i,
            "stage_step": 10 * i,
            "sft_nll_seq": loss,
            "sft_loss": loss / 4,
            "reward": rew,
            "greedy_acc": rew,
        }
        if grad_cos is not None:
            rec["grad_cos"] = grad_cos[i]
        lines.append(json.dumps(rec))
    (d / "metrics.jsonl").write_text("\n".join(lines) + "\n")


def _fake_coupling_run(out, *, full, c1=(1.0, 0.3, -0.2), rise=(0.95, 0.5, 0.01)):
    from postcouple.coupling.experiment import write_manifest

    betas = (0.25, 0.5, 1.0)
    for s in range(3):
        d = out / f"seed{s}"
        j = 0.01 * s  # a little seed noise
        _write_evals(d / "base", [(9.0, 0.0), (1.5 + j, 0.4)], grad_cos=[0.1, float("nan")])
        _write_evals(
            d / "sft_rl",
            [(1.5 + j, 0.4), (2.5 + j, 0.6), (3.5 + 2 * j, 0.8)],
            grad_cos=[float("nan"), float("nan"), -0.1],  # all-NaN columns: no warning
        )
        _write_evals(d / "rl_sft", [(3.5, 0.8), (2.0, 0.5), (1.6, 0.3 - j)])
        for b, r in zip(betas, rise):
            _write_evals(d / f"beta_{b:g}", [(1.5, 0.4), (1.5 + r / 2, 0.5), (1.5 + r + j, 0.6)])
        for name, end in (("alt_3", (1.8, 0.3)), ("joint_0.3", (1.9, 0.6)), ("half", (1.7, 0.3))):
            _write_evals(d / name, [(1.5, 0.4), (1.6, 0.4), end])
        (d / "c1").mkdir()
        (d / "c1" / "c1.json").write_text(
            json.dumps([{"beta": b, "c1": c + j, "c1_se": 0.01} for b, c in zip(betas, c1)])
        )
    write_manifest(
        out,
        {
            "command": "postcouple coupling --scale 0.3" if not full else "postcouple coupling",
            "preset": "tiny-arith",
            "model": "tiny",
            "scale": 1.0 if full else 0.3,
            "set": [],
            "seeds": [0, 1, 2],
            "steps": {"rl_steps": 20},
            "full_protocol": full,
        },
    )


def test_report_records_the_run_and_never_calls_a_reduced_run_reproduced(tmp_path):
    import warnings

    from postcouple.coupling.report import write_report

    _fake_coupling_run(tmp_path, full=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy RuntimeWarning on all-NaN columns
        summ = write_report(tmp_path, "tiny-arith")
    md = (tmp_path / "report.md").read_text()
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["run"]["scale"] == 0.3 and saved["run"]["seeds"] == [0, 1, 2]
    assert saved["run"]["steps"] == {"rl_steps": 20} and saved["full_protocol"] is False
    assert "Not the full protocol" in md and "postcouple coupling --scale 0.3" in md
    assert "Reproduced" not in md and "Reproduced" not in summ["sft_then_rl"]["verdict"]
    assert "Seen in this reduced run" in summ["sft_then_rl"]["verdict"]
    assert "None" not in md and "nan" not in md.lower()
    assert "never" in md  # per-seed first negative cosine without Python's None
    # the same runs as the full protocol may say "Reproduced"
    _fake_coupling_run(tmp_path / "full", full=True)
    assert "**Reproduced.**" in write_report(tmp_path / "full", "x")["sft_then_rl"]["verdict"]


def test_theory_check_ratios_tolerance_and_negative_c1_caveat(tmp_path):
    from postcouple.coupling.report import theory_sentences, write_report

    _fake_coupling_run(tmp_path, full=True, c1=(1.0, 0.3, -0.2), rise=(0.95, 0.5, 0.01))
    rows = {r["beta"]: r for r in write_report(tmp_path, "x")["c1"]}
    r = rows[0.25]  # measured mean 0.96, predicted 1.01
    assert r["checked"] and r["within_tolerance"]
    assert r["measured_over_predicted"] == pytest.approx(0.96 / 1.01)
    assert r["trajectory"]["stage_step"] == [0, 10, 20]
    assert r["trajectory"]["rise_mean"] == pytest.approx([0.0, 0.475, 0.96])
    assert rows[0.5]["checked"] and not rows[0.5]["within_tolerance"]
    assert not rows[1.0]["checked"]
    text = " ".join(theory_sentences(list(rows.values())))
    assert "premise is not met" in text  # C1 < 0 gets the caveat
    assert "above the prediction" in text  # beta 0.5: 0.51 vs 0.31
    md = (tmp_path / "report.md").read_text()
    assert "C1 < 0: premise not met" in md and "(within ±15%)" in md
    assert (tmp_path / "c1_approach.png").stat().st_size > 0


def test_c1_lines_are_in_the_legend_and_the_budget_title_is_honest(tmp_path, monkeypatch):
    from postcouple.coupling import report

    labels, titles = {}, {}

    def capture(fig, path):
        for ax in fig.axes:
            leg = ax.get_legend()
            labels.setdefault(path.name, []).extend(
                t.get_text() for t in (leg.get_texts() if leg else [])
            )
            titles.setdefault(path.name, []).append(ax.get_title())
        return path.name

    monkeypatch.setattr(report, "save_fig", capture)
    _fake_coupling_run(tmp_path, full=True)
    report.write_report(tmp_path, "x")
    assert "before + C1(0.25) (predicted)" in labels["sft_loss_through_rl.png"]
    assert "C1(0.5) predicted" in labels["c1_approach.png"]
    assert titles["pareto.png"] == ["Schedules at an equal budget of 20 steps"]
    assert report._budget_title([40, 45]) == "Schedules (budgets differ: 40, 45 steps)"


def test_set_rejects_what_the_protocol_owns(tmp_path, capsys):
    from postcouple.cli import main
    from postcouple.coupling.experiment import check_sets

    for key in ("schedule=rl:3", "seed=1", "out=/tmp/x", "init_from=a"):
        with pytest.raises(ValueError, match="the protocol sets"):
            plan(PRESETS["tiny-arith"], tmp_path, sets=[key])
        assert main(["coupling", "--out", str(tmp_path / "o"), "--set", key]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--set" in err[0] and "the protocol sets" in err[0], err
    check_sets(["eval.num_prompts=16", "rl.beta=0.1"])  # the rest is fine


def test_reduced_scale_alternating_gets_the_same_budget(tmp_path):
    from postcouple.train.schedule import parse_schedule

    for scale in (0.3, 0.04, 0.5, 1.0):
        jobs = plan(PRESETS["tiny-arith"], tmp_path, seeds=(0,), scale=scale)
        sft_rl = next(j for j in jobs if j.name == "seed0/sft_rl")
        budget = sum(s.steps for s in parse_schedule(sft_rl.cfg.schedule))
        for j in jobs:
            if j.name.split("/")[1].startswith(("alt_", "joint_", "half")):
                assert sum(s.steps for s in parse_schedule(j.cfg.schedule)) == budget, j.name
                assert j.steps == budget


def test_a_run_dir_made_with_other_settings_is_refused(tmp_path):
    from postcouple.coupling.experiment import run_jobs
    from postcouple.train.config import dump_toml

    jobs = plan(PRESETS["tiny-arith"], tmp_path, seeds=(0,), scale=0.5)
    old = plan(PRESETS["tiny-arith"], tmp_path, seeds=(0,), scale=0.1)[0]
    Path(old.cfg.out).mkdir(parents=True)
    dump_toml(old.cfg, Path(old.cfg.out) / "job.toml")
    with pytest.raises(ValueError, match="other settings.*schedule"):
        run_jobs(jobs, progress=False)


def test_doctests_of_the_coupling_modules():
    import doctest

    from postcouple.coupling import compare, compare_report, experiment, report

    for mod in (experiment, report, compare, compare_report):
        res = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert res.failed == 0 and res.attempted > 0, mod.__name__


def test_sigterm_stops_the_experiment_after_a_checkpoint_and_resume_finishes(tmp_path):
    """A real SIGTERM to `postcouple coupling`: no new job starts, the running job
    finishes its step, checkpoints and exits; exit 130; `--resume` completes."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "c"
    cmd = [sys.executable, "-m", "postcouple", "coupling", "--out", str(out), "--scale", "0.02"]
    cmd += ["--seeds", "0", "--workers", "1", "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    metrics = out / "seed0" / "base" / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        if metrics.exists() and metrics.read_text().count('"kind": "train"') >= 2:
            break
        time.sleep(0.2)
    assert p.poll() is None, p.communicate()[1][-2000:]
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 130, err[-2000:]
    assert "interrupted" in err and "--resume" in err, err[-2000:]
    ckpts = list((out / "seed0" / "base" / "checkpoints").glob("step-*"))
    assert ckpts, "the stopped job wrote no checkpoint"
    assert not (out / "summary.json").exists()
    resume = [x if x != "1" else "2" for x in cmd] + ["--resume"]  # --workers 2: faster
    r = subprocess.run(resume, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((out / "summary.json").read_text())["seeds"] == [0]
