"""``postcouple compare``'s ``summary.json``, ``report.md`` and plots.

Every number is over seeds (mean ± sample std). Per method and seed:

- ``sft_loss``: the held-out SFT loss at the end, the plain NLL of held-out expert
  responses in nats per response (``sft_nll_seq``); ``sft_loss_per_token`` beside it;
- ``reward``: the mean reward of samples at temperature 1 on held-out prompts;
- ``expert_tokens``: expert tokens consumed (see :func:`expert_tokens`);
- ``pareto``: on the front of the methods' mean endpoints (lower loss, higher
  reward); ``pareto_seeds``: in how many seeds it is on that seed's front.

Against the baseline (``sft_then_rl``): paired differences per seed (same SFT
model, same data order), their mean with a 95% t interval, and a two-sided
paired t-test. "A dominates B" is claimed from the means (lower loss and higher
reward); how sure we are is the number of seeds in which it holds and the
intersection-union p-value: the larger of the two one-sided paired t-tests
(loss lower, reward higher), a valid level-alpha test of the conjunction.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from postcouple.coupling.experiment import job_times
from postcouple.coupling.report import (
    col_mean_std,
    cost_line,
    fmt,
    how_made,
    label_axes,
    loss_reward_point,
    mean_std,
    num,
    pareto_front,
    records,
    save_fig,
    write_json,
)

ALPHA = 0.05


def expert_tokens(train: list[dict[str, Any]]) -> int | None:
    """Expert tokens one run consumed, from its training records.

    The engine logs ``expert_tokens`` as a running total on ``sft``, ``joint`` and
    method steps, so the run's count is its largest value; an ``sft`` record without
    it (a file from before the counter) adds its target tokens; an ``rl`` step adds 0.
    ``None`` when a step of another kind logs nothing (unknown).

    Example:
        >>> expert_tokens([{"stage": "rl", "tokens": 90}, {"stage": "sft", "tokens": 40},
        ...                {"stage": "chord", "expert_tokens": 7}])
        47
    """
    running = 0  # the engine's cumulative counter
    uncounted = 0  # sft records without it
    for r in train:
        if "expert_tokens" in r:
            running = max(running, int(r["expert_tokens"]))
        elif r["stage"] == "sft":
            uncounted += int(r.get("tokens", 0))
        elif r["stage"] != "rl":
            return None
    return running + uncounted


def paired_diff(a: list[float], b: list[float]) -> dict[str, Any]:
    """Paired differences ``a - b`` over seeds: mean, std, 95% t interval, two-sided
    paired t-test.

    Example:
        >>> d = paired_diff([2.0, 3.0, 4.5], [1.0, 2.0, 3.0])
        >>> round(d["mean"], 3), d["n"], d["p_value"] < 0.05
        (1.167, 3, True)
    """
    x, y = np.asarray(a, float), np.asarray(b, float)
    if x.shape != y.shape:
        raise ValueError(f"paired_diff: {len(x)} values against {len(y)}")
    d = x - y
    n = len(d)
    out: dict[str, Any] = {"mean": float(d.mean()) if n else math.nan, "n": n}
    if n < 2:
        return {**out, "std": math.nan, "ci95": [math.nan, math.nan], "p_value": math.nan}
    from scipy import stats

    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    out.update(std=sd, ci95=[out["mean"] - half, out["mean"] + half])
    if sd == 0:  # every seed moved by the same amount: t is infinite or undefined
        out["p_value"] = 1.0 if out["mean"] == 0 else 0.0
    else:
        out["p_value"] = float(stats.ttest_rel(x, y).pvalue)
    return out


def _one_sided(a: list[float], b: list[float], alternative: str) -> float:
    """p of the paired t-test that ``a`` is ``alternative`` ("less"/"greater") than ``b``."""
    d = np.asarray(a, float) - np.asarray(b, float)
    if len(d) < 2:
        return math.nan
    if np.all(d == d[0]):
        good = d[0] < 0 if alternative == "less" else d[0] > 0
        return 0.0 if good else 1.0
    from scipy import stats

    return float(stats.ttest_rel(a, b, alternative=alternative).pvalue)


def dominance(
    means: dict[str, tuple[float, float]], per_seed: dict[str, dict[int, tuple[float, float]]]
) -> list[dict[str, Any]]:
    """Every pair where method A's mean endpoint dominates B's (loss no higher, reward
    no lower, one strictly), with by how much and how sure.

    ``means``: name -> (sft_loss, reward); ``per_seed``: name -> seed -> (sft_loss, reward).

    Example:
        >>> m = {"a": (1.0, 0.8), "b": (2.0, 0.5)}
        >>> ps = {"a": {0: (1.0, 0.8), 1: (1.1, 0.7)}, "b": {0: (2.0, 0.5), 1: (1.9, 0.6)}}
        >>> d = dominance(m, ps)[0]
        >>> d["method"], d["over"], d["seeds_dominating"], d["n"]
        ('a', 'b', 2, 2)
    """
    out = []
    for a, (la, ra) in means.items():
        for b, (lb, rb) in means.items():
            if a == b or not (la <= lb and ra >= rb and (la < lb or ra > rb)):
                continue
            seeds = sorted(set(per_seed[a]) & set(per_seed[b]))
            La = [per_seed[a][s][0] for s in seeds]
            Lb = [per_seed[b][s][0] for s in seeds]
            Ra = [per_seed[a][s][1] for s in seeds]
            Rb = [per_seed[b][s][1] for s in seeds]
            k = sum(
                1
                for s in seeds
                if per_seed[a][s][0] <= per_seed[b][s][0] and per_seed[a][s][1] >= per_seed[b][s][1]
            )
            p = max(_one_sided(La, Lb, "less"), _one_sided(Ra, Rb, "greater"))
            out.append(
                {
                    "method": a,
                    "over": b,
                    "sft_loss_lower_by": paired_diff(Lb, La),
                    "reward_higher_by": paired_diff(Ra, Rb),
                    "seeds_dominating": k,
                    "n": len(seeds),
                    "p_value": p,
                    "significant": bool(np.isfinite(p) and p < ALPHA),
                }
            )
    return sorted(out, key=lambda d: d["p_value"] if np.isfinite(d["p_value"]) else 2.0)


# -- reading the runs -------------------------------------------------------------------


def collect_compare(out: Path, methods: list[str] | None = None) -> dict[str, Any]:
    """Per method and seed: the eval trajectory and the train-record totals."""
    seeds = sorted(int(p.name[4:]) for p in out.glob("seed*") if p.name[4:].isdigit())
    if methods is None:
        from postcouple.coupling.compare import METHODS

        methods = [m for m in METHODS if any((out / f"seed{s}" / m).is_dir() for s in seeds)]
    runs: dict[str, dict[int, dict[str, Any]]] = {}
    for m in methods:
        for s in seeds:
            d = out / f"seed{s}" / m
            ev = records(d, "eval")
            if not ev or not (d / "final").exists():
                continue  # not finished: left out rather than compared early
            tr = records(d, "train")
            runs.setdefault(m, {})[s] = {
                "evals": ev,
                "steps": len(tr),
                "rollout_steps": sum(1 for r in tr if "reward" in r),
                "expert_tokens": expert_tokens(tr),
                "schedule": _schedule(d),
                "cpu_s": job_times([d])["cpu_s"] if (d / "job_time.json").exists() else None,
            }
    return {"seeds": seeds, "methods": methods, "runs": runs}


def _schedule(run: Path) -> str:
    # the raw string as the job ran it (a report is not the place to re-validate a config)
    from postcouple.train.config import _tomllib

    f = run / "job.toml"
    return str(_tomllib().loads(f.read_text()).get("schedule", "")) if f.exists() else ""


def summarize_compare(out: Path) -> dict[str, Any]:
    from postcouple.coupling.compare import BASELINE, METHODS
    from postcouple.coupling.experiment import read_manifest

    info = read_manifest(out)
    data = collect_compare(out, info.get("methods") if info else None)
    runs = data["runs"]
    summ: dict[str, Any] = {
        "preset": info.get("preset") if info else None,
        "run": info,
        "full_protocol": bool(info and info.get("full_protocol")),
        "baseline": BASELINE,
        "skipped": dict(info.get("skipped", {})) if info else {},
        "units": {
            "sft_loss": "held-out expert NLL, nats per response (plain, unweighted)",
            "reward": "mean task reward of samples at temperature 1, held-out prompts",
        },
        "methods": {},
    }
    starts = [r["evals"][0] for m in runs.values() for r in m.values()]
    summ["start"] = {
        "sft_loss": mean_std([e["sft_nll_seq"] for e in _one_per_seed(runs)]),
        "reward": mean_std([e["reward"] for e in _one_per_seed(runs)]),
        "steps_at_start": sorted({e["step"] for e in starts}),
    }
    per_seed: dict[str, dict[int, tuple[float, float]]] = {}
    for m, by_seed in runs.items():
        seeds = sorted(by_seed)
        ends = [by_seed[s]["evals"][-1] for s in seeds]
        tok = [by_seed[s]["expert_tokens"] for s in seeds]
        per_seed[m] = {s: (e["sft_nll_seq"], e["reward"]) for s, e in zip(seeds, ends)}
        summ["methods"][m] = {
            "label": METHODS[m].label if m in METHODS else m,
            "source": METHODS[m].source if m in METHODS else "",
            "schedule": by_seed[seeds[0]]["schedule"],
            "sft_loss": mean_std([e["sft_nll_seq"] for e in ends]),
            "sft_loss_per_token": mean_std([e["sft_loss"] for e in ends]),
            "reward": mean_std([e["reward"] for e in ends]),
            "greedy_acc": mean_std([e.get("greedy_acc", math.nan) for e in ends]),
            "expert_tokens": None if None in tok else float(np.mean(tok)),
            "steps": sorted({by_seed[s]["steps"] for s in seeds}),
            "rollout_steps": sorted({by_seed[s]["rollout_steps"] for s in seeds}),
            "seeds": seeds,
            "cpu_s": _mean_or_none([by_seed[s]["cpu_s"] for s in seeds]),
            "per_seed": {
                "sft_loss": [e["sft_nll_seq"] for e in ends],
                "reward": [e["reward"] for e in ends],
                "expert_tokens": tok,
            },
        }
    rows = summ["methods"]
    front = pareto_front([(r["sft_loss"]["mean"], r["reward"]["mean"]) for r in rows.values()])
    for r, on in zip(rows.values(), front):
        r["pareto"] = on
    for r in rows.values():
        r["pareto_seeds"] = 0
    for s in data["seeds"]:
        here = [m for m in rows if s in per_seed[m]]
        for m, on in zip(here, pareto_front([per_seed[m][s] for m in here])):
            rows[m]["pareto_seeds"] += int(on)
    if BASELINE in per_seed:
        for m, r in rows.items():
            if m == BASELINE:
                continue
            seeds = sorted(set(per_seed[m]) & set(per_seed[BASELINE]))
            r["vs_baseline"] = {
                "seeds": seeds,
                "sft_loss_diff": paired_diff(
                    [per_seed[m][s][0] for s in seeds], [per_seed[BASELINE][s][0] for s in seeds]
                ),
                "reward_diff": paired_diff(
                    [per_seed[m][s][1] for s in seeds], [per_seed[BASELINE][s][1] for s in seeds]
                ),
            }
    summ["dominance"] = dominance(
        {m: (r["sft_loss"]["mean"], r["reward"]["mean"]) for m, r in rows.items()}, per_seed
    )
    dirs = [p for p in out.glob("seed*/*") if p.is_dir()]
    if info and info.get("base_from"):
        dirs += [Path(info["base_from"]) / f"seed{s}" / "base" for s in data["seeds"]]
    summ["cost"] = job_times(dirs)
    budgets = sorted({n for r in rows.values() for n in r["steps"]})
    summ["budget"] = {"steps": budgets, "equal": len(budgets) <= 1}
    return summ


def _mean_or_none(x: list[float | None]) -> float | None:
    vals = [v for v in x if v is not None]
    return None if not x or len(vals) < len(x) else float(np.mean(vals))


def _one_per_seed(runs: dict[str, dict[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The step-0 evaluation of each seed (every method's is the same model's)."""
    first: dict[int, dict[str, Any]] = {}
    for by_seed in runs.values():
        for s, r in by_seed.items():
            first.setdefault(s, r["evals"][0])
    return [first[s] for s in sorted(first)]


# -- plots ------------------------------------------------------------------------------


def _trajectory(by_seed: dict[int, dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    ev = [by_seed[s]["evals"] for s in sorted(by_seed)]
    n = min(len(e) for e in ev)
    x = np.asarray([r["stage_step"] if r["stage_index"] == 0 else r["step"] for r in ev[0][:n]])
    return x, np.asarray([[r[key] for r in e[:n]] for e in ev], float)


def plots(out: Path, summ: dict[str, Any], data: dict[str, Any]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, runs = summ["methods"], data["runs"]
    files = []
    colors = {m: f"C{i % 10}" for i, m in enumerate(rows)}

    # 1. every method's trajectory in the (SFT loss, reward) plane, endpoint with error bars
    fig, ax = plt.subplots(figsize=(8, 6))
    st = summ["start"]
    ax.plot(st["sft_loss"]["mean"], st["reward"]["mean"], "s", color="gray", ms=9)
    ax.annotate("SFT model", (st["sft_loss"]["mean"], st["reward"]["mean"]), fontsize=8)
    for m, r in rows.items():
        _, L = _trajectory(runs[m], "sft_nll_seq")
        _, R = _trajectory(runs[m], "reward")
        lm, rm = col_mean_std(L)[0], col_mean_std(R)[0]
        ax.plot(lm, rm, "-", color=colors[m], alpha=0.6, lw=1.2)
        ax.plot(lm, rm, ".", color=colors[m], alpha=0.6, ms=4)
        loss_reward_point(
            ax,
            r,
            fmt="o" if r["pareto"] else "X",
            color=colors[m],
            ms=8,
            capsize=3,
            label=f"{m}" + (" (Pareto)" if r["pareto"] else ""),
        )
    front = sorted(
        (r["sft_loss"]["mean"], r["reward"]["mean"]) for r in rows.values() if r["pareto"]
    )
    if len(front) > 1:
        ax.step(*zip(*front), where="post", ls="--", color="k", lw=0.8, label="Pareto front")
    steps = summ["budget"]["steps"]
    title = (
        "Methods from the same SFT model, "
        + (f"{steps[0]} steps each" if summ["budget"]["equal"] and steps else "unequal budgets")
        + f"\n(lines: mean trajectory over {len(data['seeds'])} seeds; points: end, ± std)"
    )
    label_axes(
        ax,
        "held-out SFT loss (nats / response), lower is better",
        "sampled reward (T=1), higher is better",
        title,
    )
    files.append(save_fig(fig, out / "trajectories.png"))

    # 2. final values per method, with each seed, and the paired differences to the baseline
    names = list(rows)
    fig, axs = plt.subplots(1, 3, figsize=(14, 4.3))
    for ax, key, lab in (
        (axs[0], "sft_loss", "final held-out SFT loss (nats / resp.)"),
        (axs[1], "reward", "final sampled reward"),
    ):
        for i, m in enumerate(names):
            r = rows[m]
            ax.bar(i, r[key]["mean"], yerr=r[key]["std"], color=colors[m], alpha=0.7, capsize=3)
            ax.plot([i] * len(r["per_seed"][key]), r["per_seed"][key], "k.", ms=4)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(lab)
    ax = axs[2]
    for m in names:
        vb = rows[m].get("vs_baseline")
        if not vb:
            continue
        dl, dr = vb["sft_loss_diff"], vb["reward_diff"]
        ci_l = [[dl["mean"] - dl["ci95"][0]], [dl["ci95"][1] - dl["mean"]]]
        ci_r = [[dr["mean"] - dr["ci95"][0]], [dr["ci95"][1] - dr["mean"]]]
        err_l: list[list[float]] | None = ci_l
        err_r: list[list[float]] | None = ci_r
        if not np.all(np.isfinite(ci_l + ci_r)):
            err_l = err_r = None
        ax.errorbar(
            dl["mean"],
            dr["mean"],
            xerr=err_l,
            yerr=err_r,
            fmt="o",
            color=colors[m],
            capsize=3,
            label=m,
        )
    ax.axhline(0, color="k", lw=0.6)
    ax.axvline(0, color="k", lw=0.6)
    ax.set_xlabel(f"SFT loss - {summ['baseline']}'s (left is better)")
    ax.set_ylabel(f"reward - {summ['baseline']}'s (up is better)")
    ax.set_title("Paired difference to the baseline, 95% CI")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    files.append(save_fig(fig, out / "endpoints.png"))
    return files


# -- markdown ---------------------------------------------------------------------------


def _ci(d: dict[str, Any], nd: int = 3) -> str:
    lo, hi = d["ci95"]
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{num(d['mean'], f'+.{nd}f')}"
    return f"{d['mean']:+.{nd}f} [{lo:+.{nd}f}, {hi:+.{nd}f}]"


def table(summ: dict[str, Any]) -> str:
    """The results table (markdown), best SFT loss first."""
    t = [
        "| method | SFT loss (nats/resp.) | reward | expert tokens | steps (with rollouts) "
        "| Pareto (seeds on front) | CPU s / seed |",
        "|---|---|---|---|---|---|---|",
        f"| start (SFT model) | {fmt(summ['start']['sft_loss'])} | "
        f"{fmt(summ['start']['reward'])} | | | | |",
    ]
    for m, r in sorted(summ["methods"].items(), key=lambda kv: kv[1]["sft_loss"]["mean"]):
        tok = "not logged" if r["expert_tokens"] is None else f"{r['expert_tokens']:,.0f}"
        cpu = "" if r.get("cpu_s") is None else f"{r['cpu_s']:.0f}"
        steps = "/".join(map(str, r["steps"])) + " (" + "/".join(map(str, r["rollout_steps"])) + ")"
        front = ("yes" if r["pareto"] else "no") + f" ({r['pareto_seeds']}/{len(r['seeds'])})"
        t.append(
            f"| {m} | {fmt(r['sft_loss'])} | {fmt(r['reward'])} | {tok} | {steps} | {front} "
            f"| {cpu} |"
        )
    return "\n".join(t)


def vs_baseline_table(summ: dict[str, Any]) -> str:
    base = summ["baseline"]
    t = [
        f"| method | SFT loss - {base}'s [95% CI] | p | reward - {base}'s [95% CI] | p | seeds |",
        "|---|---|---|---|---|---|",
    ]
    for m, r in summ["methods"].items():
        vb = r.get("vs_baseline")
        if not vb:
            continue
        dl, dr = vb["sft_loss_diff"], vb["reward_diff"]
        t.append(
            f"| {m} | {_ci(dl)} | {num(dl['p_value'], '.2g')} | {_ci(dr)} | "
            f"{num(dr['p_value'], '.2g')} | {dl['n']} |"
        )
    return "\n".join(t)


def dominance_sentences(summ: dict[str, Any]) -> list[str]:
    out = []
    for d in summ["dominance"]:
        dl, dr = d["sft_loss_lower_by"], d["reward_higher_by"]
        sure = f"significant at {ALPHA}" if d["significant"] else f"not significant at {ALPHA}"
        loss = "the same SFT loss" if dl["mean"] == 0 else f"SFT loss lower by {_ci(dl)}"
        rew = "the same reward" if dr["mean"] == 0 else f"reward higher by {_ci(dr)}"
        out.append(
            f"**{d['method']}** dominates **{d['over']}**: {loss}, {rew} (mean, 95% CI); it "
            f"dominates in {d['seeds_dominating']} of "
            f"{d['n']} seeds; p = {num(d['p_value'], '.2g')} ({sure}; the larger of the two "
            "one-sided paired t-tests)."
        )
    return out


def write_compare_report(out: Path, elapsed_s: float | None = None) -> dict[str, Any]:
    """Write summary.json, the plots and report.md into ``out``; return the summary."""
    summ = summarize_compare(out)
    if elapsed_s is not None:
        summ["elapsed_s"] = elapsed_s
    info = summ["run"] or {}
    data = collect_compare(out, info.get("methods"))
    if not summ["methods"]:
        raise ValueError(f"{out}: no finished method runs to compare")
    figs = plots(out, summ, data)
    write_json(out / "summary.json", summ)
    n = info.get("steps", {})
    budget = summ["budget"]
    md = [
        f"# SFT+RL methods compared ({summ['preset'] or 'preset not recorded'})",
        "",
        "Mean ± std over seeds " + ", ".join(map(str, data["seeds"])) + ". Every method starts "
        "from the same SFT model per seed and runs "
        + (
            f"the same {budget['steps'][0]} optimizer steps"
            if budget["equal"] and budget["steps"]
            else "**unequal budgets** (" + ", ".join(map(str, budget["steps"])) + " steps)"
        )
        + "; every step that samples draws the same rollouts. The SFT loss is the plain NLL of "
        "held-out expert responses (nats per response) for every method; the reward is the "
        "mean reward of samples at temperature 1 on held-out prompts.",
        "",
        "## How this run was made",
        "",
        *how_made(
            summ["run"],
            "the full protocol is the preset's steps, --scale 1, no --set, at least 3 seeds",
        ),
    ]
    if n.get("base_sft_steps"):
        md += [f"SFT model: {n['base_sft_steps']} SFT steps per seed.", ""]
    md += [cost_line(summ["cost"], elapsed_s), ""]
    if summ["skipped"]:
        md += ["Skipped (not runnable in this build):", ""]
        md += [f"- {m}: {why}" for m, why in summ["skipped"].items()]
        md += [""]
    md += ["## Results", "", table(summ), "", "## Against " + summ["baseline"], ""]
    md += [
        "Paired by seed; two-sided paired t-tests (with 3 seeds only large, consistent "
        "differences reach significance).",
        "",
        vs_baseline_table(summ),
        "",
        "## Who dominates",
        "",
    ]
    dom = dominance_sentences(summ)
    md += [f"- {x}" for x in dom] if dom else ["No method's mean endpoint dominates another's."]
    front = [m for m, r in summ["methods"].items() if r["pareto"]]
    md += ["", "Pareto front (mean endpoints): " + ", ".join(front) + ".", "", "## Plots", ""]
    md += [f"![{f}]({f})" for f in figs]
    (out / "report.md").write_text("\n".join(md) + "\n")
    return summ
