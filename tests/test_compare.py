"""``postcouple compare``: the method table, the plan, the statistics on hand-made
numbers, the report on hand-made runs, and the whole command at a tiny scale."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from postcouple.coupling import compare as C
from postcouple.coupling import compare_report as CR
from postcouple.coupling.presets import PRESETS
from postcouple.coupling.report import pareto_front
from postcouple.train import schedule as schedule_mod
from postcouple.train.schedule import parse_schedule

# -- statistics on hand-made numbers -----------------------------------------------------


def test_pareto_front_on_hand_made_points():
    # (sft_loss, reward): lower loss and higher reward are better
    pts = [(1.0, 0.5), (2.0, 0.9), (2.0, 0.4), (1.5, 0.5), (1.0, 0.5), (0.5, 0.1)]
    # (2.0, 0.4) is beaten by (1.0, 0.5); (1.5, 0.5) by (1.0, 0.5) on loss alone;
    # equal points (1.0, 0.5) are both on the front; (0.5, 0.1) has the lowest loss
    assert pareto_front(pts) == [True, True, False, False, True, True]
    assert pareto_front([]) == []
    assert pareto_front([(3.0, 0.0)]) == [True]


def _t_two_sided_df2(t: float) -> float:
    # Student t with 2 degrees of freedom has the closed-form cdf 1/2 + t / (2 sqrt(t^2 + 2))
    return 1.0 - abs(t) / math.sqrt(t * t + 2.0)


def test_paired_diff_against_closed_form_t_with_two_degrees_of_freedom():
    a, b = [2.0, 3.0, 4.5], [1.0, 2.0, 3.0]  # differences 1, 1, 1.5
    d = CR.paired_diff(a, b)
    mean = 7 / 6
    sd = math.sqrt(((1 - mean) ** 2 * 2 + (1.5 - mean) ** 2) / 2)
    t = mean / (sd / math.sqrt(3))
    assert d["mean"] == pytest.approx(mean)
    assert d["std"] == pytest.approx(sd)
    assert d["p_value"] == pytest.approx(_t_two_sided_df2(t), rel=1e-9)
    q = math.sqrt(2 * 0.95**2 / (1 - 0.95**2))  # the 97.5% quantile of t_2
    assert d["ci95"] == pytest.approx([mean - q * sd / math.sqrt(3), mean + q * sd / math.sqrt(3)])
    # the same shift in every seed: certain, with a zero-width interval
    same = CR.paired_diff([1.0, 2.0, 3.0], [0.5, 1.5, 2.5])
    assert same["p_value"] == 0.0 and same["ci95"] == pytest.approx([0.5, 0.5])
    assert CR.paired_diff([1.0, 2.0], [1.0, 2.0])["p_value"] == 1.0
    assert math.isnan(CR.paired_diff([1.0], [0.0])["p_value"])
    with pytest.raises(ValueError, match="paired_diff"):
        CR.paired_diff([1.0, 2.0], [1.0])


def test_dominance_on_hand_made_numbers():
    # a beats b on both axes in seeds 0 and 1, not on reward in seed 2
    ps = {
        "a": {0: (1.0, 0.8), 1: (1.2, 0.7), 2: (1.1, 0.5)},
        "b": {0: (2.0, 0.5), 1: (2.1, 0.6), 2: (2.3, 0.55)},
        "c": {0: (0.5, 0.1), 1: (0.6, 0.2), 2: (0.4, 0.1)},
    }
    means = {m: tuple(sum(v[i] for v in s.values()) / 3 for i in (0, 1)) for m, s in ps.items()}
    dom = CR.dominance(means, ps)
    assert [(d["method"], d["over"]) for d in dom] == [("a", "b")]  # c trades reward for loss
    d = dom[0]
    assert d["seeds_dominating"] == 2 and d["n"] == 3
    assert d["sft_loss_lower_by"]["mean"] == pytest.approx((1.0 + 0.9 + 1.2) / 3)
    assert d["reward_higher_by"]["mean"] == pytest.approx((0.3 + 0.1 - 0.05) / 3)
    # the intersection-union p: the larger one-sided p (here the reward's)
    r = [0.3, 0.1, -0.05]
    m = sum(r) / 3
    sd = math.sqrt(sum((x - m) ** 2 for x in r) / 2)
    p_reward = _t_two_sided_df2(m / (sd / math.sqrt(3))) / 2
    assert d["p_value"] == pytest.approx(p_reward, rel=1e-9)
    assert d["significant"] is False


def test_expert_tokens_from_training_records():
    assert CR.expert_tokens([{"stage": "rl", "tokens": 500}] * 3) == 0
    recs = [
        {"stage": "rl", "tokens": 500},
        {"stage": "sft", "tokens": 40},
        {"stage": "joint", "tokens": 500, "expert_tokens": 30},  # running totals
        {"stage": "luffy", "expert_tokens": 42},
    ]
    assert CR.expert_tokens(recs) == 82
    # a stage of another kind that logs nothing: unknown, not 0
    assert CR.expert_tokens([{"stage": "hpt", "tokens": 9}]) is None


# -- the method table ------------------------------------------------------------------


def test_every_method_schedule_spends_the_budget_exactly():
    for steps, block in ((100, 15), (45, 4), (7, 3), (1, 1)):
        for name, m in C.METHODS.items():
            sched = m.schedule(steps, block)
            kinds = C.stage_kinds(sched)
            assert kinds, name
            if kinds <= set(schedule_mod.KINDS):
                assert sum(s.steps for s in parse_schedule(sched)) == steps, (name, sched)


def test_select_methods_skips_unregistered_kinds_and_rejects_them_by_name(monkeypatch):
    monkeypatch.setattr(schedule_mod, "KINDS", ("sft", "rl", "joint"))
    run, skipped = C.select_methods(None)
    assert run == ["sft_then_rl", "joint", "alternating"]
    assert set(skipped) == {"chord", "luffy", "hpt", "relift", "uft"}
    assert "'chord' is not registered" in skipped["chord"]
    with pytest.raises(ValueError, match="'hpt' cannot run: stage kind 'hpt' is not registered"):
        C.select_methods(["joint", "hpt"])
    with pytest.raises(ValueError, match="unknown \\['grpo'\\]"):
        C.select_methods(["grpo"])
    # the baseline is always there, first; duplicates collapse
    assert C.select_methods(["alternating", "joint", "joint"])[0] == [
        "sft_then_rl",
        "alternating",
        "joint",
    ]
    # a kind registered later (the methods of the schedule grammar) plugs in by name
    monkeypatch.setattr(schedule_mod, "KINDS", ("sft", "rl", "joint", "chord"))
    assert "chord" in C.select_methods(None)[0]
    assert C.select_methods(["chord"])[0] == ["sft_then_rl", "chord"]


def test_plan_gives_every_method_the_same_start_and_budget(tmp_path):
    preset = PRESETS["tiny-arith"]
    methods = ["sft_then_rl", "joint", "alternating"]
    jobs = C.plan_compare(preset, tmp_path, methods, seeds=(0, 1, 2), steps=45)
    by = {j.name: j for j in jobs}
    assert len(jobs) == 3 * (1 + len(methods))
    for s in (0, 1, 2):
        base = by[f"seed{s}/base"]
        assert base.cfg.schedule == f"sft:{preset.sft_steps}" and base.cfg.seed == s
        for m in methods:
            j = by[f"seed{s}/{m}"]
            assert j.after == [base.name] and j.cfg.init_from == base.cfg.out
            assert j.cfg.seed == s and j.steps == 45
            assert sum(st.steps for st in parse_schedule(j.cfg.schedule)) == 45
            assert j.cfg.rl.num_prompts == preset.base["rl"]["num_prompts"]
            assert not j.cfg.eval.grad_cosine
    # the coupling experiment's SFT model: the same config but for its evaluation
    from postcouple.coupling.experiment import plan

    coupling_base = next(j for j in plan(preset, tmp_path, seeds=(0,)) if j.name == "seed0/base")
    a, b = coupling_base.cfg, by["seed0/base"].cfg
    assert (a.schedule, a.seed, a.model, a.task, a.sft) == (
        b.schedule,
        b.seed,
        b.model,
        b.task,
        b.sft,
    )
    with pytest.raises(ValueError, match="the protocol sets 'seed'"):
        C.plan_compare(preset, tmp_path, methods, sets=["seed=4"])
    with pytest.raises(ValueError, match="--base-from: no finished SFT model"):
        C.plan_compare(preset, tmp_path, methods, base_from=tmp_path / "nowhere")


def test_plan_reuses_the_coupling_jobs_sft_models_with_base_from(tmp_path):
    from postcouple.coupling.experiment import _check_same_settings, plan
    from postcouple.train.config import dump_toml

    preset = PRESETS["tiny-arith"]
    coupling = tmp_path / "coupling"
    for job in plan(preset, coupling, seeds=(0, 1)):
        if job.name.endswith("/base"):  # a finished coupling SFT model, as the job wrote it
            final = Path(job.cfg.out) / "final"
            final.mkdir(parents=True)
            (final / "model.safetensors").write_bytes(b"")
            dump_toml(job.cfg, Path(job.cfg.out) / "job.toml")
    jobs = C.plan_compare(
        preset, tmp_path / "cmp", ["sft_then_rl"], seeds=(0, 1), base_from=coupling
    )
    for s in (0, 1):
        base = next(j for j in jobs if j.name == f"seed{s}/base")
        assert base.shared and base.cfg.out == str(coupling / f"seed{s}" / "base")
        _check_same_settings(base)  # evaluation settings differ; the model's do not
        run = next(j for j in jobs if j.name == f"seed{s}/sft_then_rl")
        assert run.cfg.init_from == base.cfg.out
    # an SFT model made with other training settings is refused
    other = C.plan_compare(
        preset,
        tmp_path / "cmp",
        ["sft_then_rl"],
        seeds=(0,),
        base_from=coupling,
        sets=["sft.learning_rate=0.1"],
    )[0]
    with pytest.raises(ValueError, match="other settings"):
        _check_same_settings(other)


# -- the report on hand-made runs ----------------------------------------------------------


def _fake_run(d: Path, seed: int, schedule: str, points: list[tuple[float, float]], stage: str):
    """A finished run: evals at steps 0, 5, 10 with the given (sft_nll_seq, reward)."""
    d.mkdir(parents=True)
    (d / "final").mkdir()
    recs = []
    for i, (loss, rew) in enumerate(points):
        step = 5 * i
        if i:
            for k in range(step - 4, step + 1):
                rec = {"kind": "train", "stage": stage, "stage_index": 0, "step": k}
                rec.update({"tokens": 10} if stage == "sft" else {"tokens": 99, "reward": 0.5})
                recs.append(rec)
        recs.append(
            {
                "kind": "eval",
                "stage": stage,
                "stage_index": 0,
                "step": step,
                "stage_step": step,
                "sft_nll_seq": loss,
                "sft_loss": loss / 4,
                "reward": rew,
                "greedy_acc": rew,
            }
        )
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    (d / "job.toml").write_text(f'schedule = "{schedule}"\nseed = {seed}\n')


def test_report_on_hand_made_runs(tmp_path):
    from postcouple.coupling.experiment import write_manifest

    ends = {  # method -> per seed (sft loss, reward) at the end
        "sft_then_rl": [(3.0, 0.80), (3.2, 0.78), (2.9, 0.82)],
        "joint": [(2.0, 0.70), (2.1, 0.72), (1.9, 0.69)],
        "alternating": [(2.5, 0.40), (2.6, 0.45), (2.4, 0.42)],  # dominated by joint
    }
    for m, pts in ends.items():
        for s, end in enumerate(pts):
            stage = {"sft_then_rl": "rl", "joint": "rl", "alternating": "sft"}[m]
            mid = ((1.5 + end[0]) / 2, (0.5 + end[1]) / 2)
            _fake_run(tmp_path / f"seed{s}" / m, s, f"{m}:10", [(1.5, 0.5), mid, end], stage)
    write_manifest(
        tmp_path,
        {
            "command": "postcouple compare --scale 0.1",
            "preset": "tiny-arith",
            "scale": 0.1,
            "set": [],
            "seeds": [0, 1, 2],
            "methods": list(ends),
            "skipped": {"chord": "stage kind 'chord' is not registered"},
            "steps": {"method_steps": 10},
            "full_protocol": False,
        },
    )
    summ = CR.write_compare_report(tmp_path)
    saved = json.loads((tmp_path / "summary.json").read_text())
    for m, pts in ends.items():
        row = saved["methods"][m]
        assert {"sft_loss", "reward", "expert_tokens", "pareto", "seeds"} <= set(row)
        assert set(row["sft_loss"]) == {"mean", "std"} and set(row["reward"]) == {"mean", "std"}
        assert row["sft_loss"]["mean"] == pytest.approx(sum(p[0] for p in pts) / 3)
        assert row["seeds"] == [0, 1, 2] and row["steps"] == [10]
    assert saved["methods"]["sft_then_rl"]["expert_tokens"] == 0
    assert saved["methods"]["alternating"]["expert_tokens"] == 100  # 10 SFT steps x 10 tokens
    assert {m: r["pareto"] for m, r in saved["methods"].items()} == {
        "sft_then_rl": True,
        "joint": True,
        "alternating": False,
    }
    assert saved["methods"]["joint"]["pareto_seeds"] == 3
    vb = saved["methods"]["joint"]["vs_baseline"]["sft_loss_diff"]
    assert vb["mean"] == pytest.approx(-1.0333333, abs=1e-6) and vb["n"] == 3
    assert [(d["method"], d["over"]) for d in summ["dominance"]] == [("joint", "alternating")]
    assert saved["budget"] == {"steps": [10], "equal": True}
    md = (tmp_path / "report.md").read_text()
    assert "Not the full protocol" in md and "chord" in md
    assert "**joint** dominates **alternating**" in md and "3 of 3 seeds" in md
    assert "None" not in md and "nan" not in md.lower()
    for f in ("trajectories.png", "endpoints.png"):
        assert (tmp_path / f).stat().st_size > 0


# -- the command at a tiny scale ---------------------------------------------------------


def test_compare_end_to_end_at_a_tiny_scale(tmp_path):
    """`postcouple compare` on 3 seeds at 2% of the lengths with the baselines; a second
    call resumes (nothing reruns) and rebuilds the same summary."""
    out = tmp_path / "cmp"
    cmd = [
        sys.executable,
        "-m",
        "postcouple",
        "compare",
        "--out",
        str(out),
        "--scale",
        "0.02",
        "--steps",
        "4",
        "--seeds",
        "0,1,2",
        "--methods",
        "sft_then_rl,joint,alternating",
        "--no-progress",
        "--set",
        "eval.num_examples=32",
        "--set",
        "eval.num_prompts=8",
        "--set",
        "eval.num_samples=2",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    summ = json.loads((out / "summary.json").read_text())
    assert set(summ["methods"]) == {"sft_then_rl", "joint", "alternating"}
    for row in summ["methods"].values():
        assert set(row["sft_loss"]) == {"mean", "std"} and set(row["reward"]) == {"mean", "std"}
        assert row["seeds"] == [0, 1, 2] and isinstance(row["pareto"], bool)
        assert row["steps"] == [4]
    assert summ["methods"]["sft_then_rl"]["expert_tokens"] == 0
    assert summ["methods"]["alternating"]["expert_tokens"] > 0
    assert summ["methods"]["joint"]["expert_tokens"] > 0
    assert summ["budget"]["equal"] and not summ["full_protocol"]
    # every job's CPU time is recorded (3 SFT models + 9 method runs)
    assert summ["cost"]["jobs_timed"] == 12 and summ["cost"]["cpu_s"] > 0
    assert all(row["cpu_s"] > 0 for row in summ["methods"].values())
    assert any(row["pareto"] for row in summ["methods"].values())
    # one SFT model per seed: every method's first evaluation is the same model's
    for s in (0, 1, 2):
        firsts = {
            json.loads((out / f"seed{s}" / m / "metrics.jsonl").read_text().splitlines()[0])[
                "sft_nll_seq"
            ]
            for m in summ["methods"]
        }
        assert len(firsts) == 1
    md = (out / "report.md").read_text()
    assert "Against sft_then_rl" in md and "None" not in md
    r2 = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert json.loads((out / "summary.json").read_text())["methods"] == summ["methods"]
    # a different budget in the same --out is refused, not mixed in
    bad = [x if x != "4" else "5" for x in cmd]
    r3 = subprocess.run(bad, capture_output=True, text=True, env=env, timeout=120)
    assert r3.returncode == 2 and "other settings" in r3.stderr


def test_compare_cli_rejects_bad_input(capsys):
    from postcouple.cli import main

    def one_line_error(argv, needle):
        assert main(["compare", *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("postcouple compare: error: "), err
        assert needle in err[0], err

    one_line_error(["--set", "out=x", "--out", "/nonexistent/never"], "the protocol sets 'out'")
    one_line_error(["--methods", "nope"], "unknown ['nope']")
    one_line_error(["--seeds", "0,x"], "--seeds")
    assert C.main(["--list-methods"]) == 0
    assert "sft_then_rl" in capsys.readouterr().out
