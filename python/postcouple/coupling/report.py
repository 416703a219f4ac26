"""Turn the experiment's run directories into ``summary.json``, ``report.md`` and plots.

Units: "SFT loss" is the held-out expert NLL in nats per response
(``sft_nll_seq``), the unit of the paper's L_SFT and of C1(beta); the
per-token mean (``sft_loss``) is reported beside it. "Reward" is the mean task
reward of samples at temperature 1 on held-out prompts; greedy accuracy is the
reward of the greedy completion.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from postcouple.coupling.diagnostics import first_negative, paired_test

ALPHA = 0.05


def records(run: Path, kind: str = "eval") -> list[dict[str, Any]]:
    """The ``metrics.jsonl`` records of one run of ``kind`` ("eval" or "train")."""
    f = run / "metrics.jsonl"
    if not f.exists():
        return []
    return [
        r
        for r in (json.loads(ln) for ln in f.read_text().splitlines() if ln.strip())
        if r["kind"] == kind
    ]


def _evals(run: Path) -> list[dict[str, Any]]:
    return records(run, "eval")


def mean_std(x: list[float]) -> dict[str, float]:
    """``{"mean", "std"}`` over seeds (sample std, ddof 1; 0 for one value).

    Example:
        >>> mean_std([1.0, 3.0])
        {'mean': 2.0, 'std': 1.4142135623730951}
    """
    a = np.asarray(x, float)
    return {
        "mean": float(a.mean()) if len(a) else math.nan,
        "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
    }


def fmt(m: dict[str, float], nd: int = 3) -> str:
    """``mean ± std`` (``n/a`` for a missing mean)."""
    if m["mean"] is None or not np.isfinite(m["mean"]):
        return "n/a"
    return f"{m['mean']:.{nd}f} ± {m['std']:.{nd}f}"


def num(x: float | None, spec: str = ".2f", missing: str = "n/a") -> str:
    """A number for prose and tables: never Python's ``None`` or ``nan``.

    Example:
        >>> num(None), num(float("nan")), num(0.123)
        ('n/a', 'n/a', '0.12')
    """
    if x is None or not np.isfinite(x):
        return missing
    return format(x, spec)


def col_mean_std(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and std of ``Y`` (seeds, steps) over its finite values;
    NaN where a column has none (no NumPy "mean of empty slice" warning)."""
    Y = np.asarray(Y, float)
    ok = np.isfinite(Y)
    n = ok.sum(0)
    Z = np.where(ok, Y, 0.0)
    m = np.divide(Z.sum(0), n, out=np.full(Y.shape[1], np.nan), where=n > 0)
    var = np.divide(
        (np.where(ok, Y - m, 0.0) ** 2).sum(0), n, out=np.full(Y.shape[1], np.nan), where=n > 0
    )
    return m, np.sqrt(var)


def collect(out: Path) -> dict[str, Any]:
    """Read every seed's runs into per-seed series and endpoints."""
    seeds = sorted(int(p.name[4:]) for p in out.glob("seed*") if p.name[4:].isdigit())
    data: dict[str, Any] = {"seeds": seeds, "runs": {}}
    for s in seeds:
        d = out / f"seed{s}"
        runs = {}
        for r in sorted(p for p in d.iterdir() if p.is_dir()):
            ev = _evals(r)
            if ev:
                runs[r.name] = ev
        c1 = d / "c1" / "c1.json"
        data["runs"][s] = {"evals": runs, "c1": json.loads(c1.read_text()) if c1.exists() else []}
    return data


def _verdict(what: str, before: dict, after: dict, test: dict, claim: str, full: bool) -> str:
    """The verdict on one claim; only a run of the full protocol may say "Reproduced"."""
    p = test["p_value"]
    direction_ok = (test["mean_diff"] > 0) == (claim == "greater")
    change = f"{what[0].upper()}{what[1:]} went from {fmt(before)} to {fmt(after)}"
    stat = f"{test['test']}, p = {num(p, '.2g')}"
    if test["mean_diff"] == 0:
        return f"**No change.** {change} ({stat})."
    if direction_ok and p < ALPHA:
        head = (
            "**Reproduced.**" if full else "**Seen in this reduced run** (not the full protocol)."
        )
        return f"{head} {change} (mean change {test['mean_diff']:+.3f}; {stat})."
    if direction_ok:
        return f"**In the claimed direction but not significant** at {ALPHA}. {change} ({stat})."
    head = "**Not reproduced.**" if full else "**Not seen in this reduced run.**"
    return f"{head} {change}, against the claimed direction ({stat})."


def _ends(
    runs: dict[int, Any], seeds: list[int], job: str, **metrics: str
) -> dict[str, tuple[list[float], list[float]]]:
    """Per name in ``metrics``: the eval field's (first, last) values of ``job``,
    one per seed that ran it. A field named ``key?`` is optional (NaN if absent)."""
    out: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in metrics}
    for s in seeds:
        ev = runs[s]["evals"].get(job)
        if ev:
            for name, key in metrics.items():
                for got, e in zip(out[name], (ev[0], ev[-1])):
                    got.append(e.get(key[:-1], math.nan) if key.endswith("?") else e[key])
    return out


def _protocol(
    metric: str,
    name: str,
    ends: dict[str, tuple[list[float], list[float]]],
    alternative: str,
    what: str,
    full: bool,
    **extra: Any,
) -> dict[str, Any]:
    """A protocol's summary: ``name`` before/after over the seeds, ``extra``, the
    paired test (``alternative``: after is ``greater``/``less``) and the verdict."""
    b, a = ends[name]
    t = paired_test(b, a, alternative)
    p = {
        "metric": metric,
        f"{name}_before": mean_std(b),
        f"{name}_after": mean_std(a),
        "per_seed": {"before": b, "after": a},
        **extra,
        **t,
    }
    p["verdict"] = _verdict(what, p[f"{name}_before"], p[f"{name}_after"], t, alternative, full)
    return p


def summarize(out: Path) -> dict[str, Any]:
    from postcouple.coupling.experiment import read_manifest

    data = collect(out)
    seeds = data["seeds"]
    runs = data["runs"]
    run_info = read_manifest(out)
    full = bool(run_info and run_info.get("full_protocol"))
    summ: dict[str, Any] = {"seeds": seeds, "run": run_info, "full_protocol": full}

    # -- protocol 1: SFT -> RL --------------------------------------------------------
    p1 = _ends(runs, seeds, "sft_rl", sft_loss="sft_nll_seq", reward="reward")
    if p1["sft_loss"][0]:
        summ["sft_then_rl"] = _protocol(
            "held-out SFT loss (nats per response)",
            "sft_loss",
            p1,
            "greater",
            "the held-out SFT loss through RL",
            full,
            reward_before=mean_std(p1["reward"][0]),
            reward_after=mean_std(p1["reward"][1]),
        )

    # -- protocol 2: RL -> SFT ----------------------------------------------------------
    p2 = _ends(runs, seeds, "rl_sft", reward="reward", greedy_acc="greedy_acc?")
    if p2["reward"][0]:
        gb, ga = p2["greedy_acc"]
        summ["rl_then_sft"] = _protocol(
            "mean reward of samples at temperature 1",
            "reward",
            p2,
            "less",
            "the sampled reward through SFT",
            full,
            greedy_acc_before=mean_std(gb),
            greedy_acc_after=mean_std(ga),
            greedy_test=paired_test(gb, ga, "less"),
        )

    summ["c1"] = _theory(runs, seeds)

    # -- protocol 3: schedules at equal budget -----------------------------------------
    names = sorted(
        {
            n
            for s in seeds
            for n in runs[s]["evals"]
            if n == "sft_rl" or n == "half" or n.startswith(("alt_", "joint_"))
        }
    )
    sched = []
    for n in names:
        ends = [runs[s]["evals"][n][-1] for s in seeds if n in runs[s]["evals"]]
        sched.append(
            {
                "schedule": _label(n),
                "run": n,
                "steps": max(e["step"] for e in ends),
                "sft_loss": mean_std([e["sft_nll_seq"] for e in ends]),
                "reward": mean_std([e["reward"] for e in ends]),
            }
        )
    base = [runs[s]["evals"]["base"][-1] for s in seeds if "base" in runs[s]["evals"]]
    front = pareto_front([(r["sft_loss"]["mean"], r["reward"]["mean"]) for r in sched])
    for row, on in zip(sched, front):
        row["pareto"] = on
    summ["schedules"] = {
        "start": {
            "sft_loss": mean_std([e["sft_nll_seq"] for e in base]),
            "reward": mean_std([e["reward"] for e in base]),
        },
        "budget_steps": sorted({r["steps"] for r in sched}),
        "rows": sched,
    }

    # -- gradient cosine -----------------------------------------------------------------
    cos = {}
    for n, key, claim in (("sft_rl", "sft_nll_seq", 1), ("rl_sft", "reward", -1)):
        firsts, degr = [], []
        for s in seeds:
            ev = runs[s]["evals"].get(n)
            if not ev or "grad_cos" not in ev[0]:
                continue
            st = [e["stage_step"] for e in ev]
            firsts.append(first_negative(st, [e["grad_cos"] for e in ev]))
            v = np.array([e[key] for e in ev]) * claim
            thr = v[0] + 0.1 * (v.max() - v[0])
            j = int(np.argmax(v > thr)) if (v > thr).any() else None
            degr.append(st[j] if j is not None else None)
        cos[n] = {
            "first_negative_cosine_step": firsts,
            "degradation_start_step": degr,
            "mean_cosine": mean_std(
                [
                    e["grad_cos"]
                    for s in seeds
                    for e in runs[s]["evals"].get(n, [])
                    if "grad_cos" in e
                ]
            ),
        }
    summ["grad_cosine"] = cos
    from postcouple.coupling.experiment import job_times

    summ["cost"] = job_times([p for p in out.glob("seed*/*") if p.is_dir()])
    return summ


def pareto_front(points: list[tuple[float, float]]) -> list[bool]:
    """Which ``(sft_loss, reward)`` points no other point dominates (a point
    dominates another when its loss is no higher and its reward no lower, and
    one of the two strictly). Equal points are both on the front.

    Example:
        >>> pareto_front([(1.0, 0.5), (2.0, 0.9), (2.0, 0.4), (1.0, 0.5)])
        [True, True, False, True]
    """
    out = []
    for i, (li, ri) in enumerate(points):
        dominated = any(
            j != i and lj <= li and rj >= ri and (lj < li or rj > ri)
            for j, (lj, rj) in enumerate(points)
        )
        out.append(not dominated)
    return out


# -- theory: C1(beta) against the measured rise -----------------------------------------

C1_CHECKED = 0.1  # predictions below this are too small to hold a ratio to
C1_TOLERANCE = 0.15  # |measured / predicted - 1| within this counts as agreement


def _theory(runs: dict, seeds: list[int]) -> list[dict[str, Any]]:
    theory = []
    betas = sorted({c["beta"] for s in seeds for c in runs[s]["c1"]})
    for beta in betas:
        pred, pred_se, meas = [], [], []
        for s in seeds:
            c = [c for c in runs[s]["c1"] if c["beta"] == beta]
            ev = runs[s]["evals"].get(f"beta_{beta:g}")
            if c and ev:
                pred.append(c[0]["c1"])
                pred_se.append(c[0].get("c1_se", math.nan))
                meas.append(ev[-1]["sft_nll_seq"] - ev[0]["sft_nll_seq"])
        if not pred:
            continue
        row: dict[str, Any] = {
            "beta": beta,
            "c1_predicted": mean_std(pred),
            "rise_measured": mean_std(meas),
            "per_seed": {"predicted": pred, "predicted_se": pred_se, "measured": meas},
        }
        pm = row["c1_predicted"]["mean"]
        ratio = row["rise_measured"]["mean"] / pm if abs(pm) > 1e-12 else math.nan
        row["measured_over_predicted"] = ratio
        row["checked"] = bool(pm > C1_CHECKED)
        row["within_tolerance"] = bool(row["checked"] and abs(ratio - 1) <= C1_TOLERANCE)
        d = np.asarray(meas) - np.asarray(pred)  # paired by seed
        row["difference"] = {
            "mean": float(d.mean()),
            "se": float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else math.nan,
        }
        x, Y = _series(runs, seeds, f"beta_{beta:g}", "sft_nll_seq")
        if Y.size:
            m, sd = col_mean_std(Y - Y[:, :1])
            row["trajectory"] = {
                "stage_step": x.tolist(),
                "rise_mean": m.tolist(),
                "rise_std": sd.tolist(),
            }
            row["trend_per_100_steps"] = _end_slope(x, m)
        theory.append(row)
    return theory


def _end_slope(x: np.ndarray, m: np.ndarray) -> float:
    """Least-squares slope of ``m`` over the last third of the steps, per 100 steps."""
    k = x >= x[-1] * 2 / 3 if len(x) else x
    if k.sum() < 2 or not np.all(np.isfinite(m[k])):
        return math.nan
    return float(np.polyfit(x[k], m[k], 1)[0] * 100)


def theory_sentences(rows: list[dict[str, Any]]) -> list[str]:
    """What the C1 comparison says, row by row, in words (no ``None`` / ``nan``)."""
    out = []
    for r in rows:
        b, pm = r["beta"], r["c1_predicted"]["mean"]
        ratio = r["measured_over_predicted"]
        head = f"beta={b:g}: predicted {fmt(r['c1_predicted'])}, measured {fmt(r['rise_measured'])}"
        if pm < 0:
            out.append(
                f"{head}. C1 < 0: the SFT model is not at the SFT optimum, so the theorem's "
                "premise is not met (the identity still predicts the change at the RL optimum, "
                "but nothing makes it a rise); not checked."
            )
            continue
        if not r["checked"]:
            out.append(f"{head}. C1 <= {C1_CHECKED:g}: too small to check a ratio.")
            continue
        trend, diff = r.get("trend_per_100_steps", math.nan), r["difference"]
        if r["within_tolerance"]:
            why = f"within {C1_TOLERANCE:.0%} of the prediction"
        elif ratio < 1 and np.isfinite(trend) and trend > 0:
            why = (
                f"below the prediction and still rising ({num(trend, '+.3f')} nats per 100 RL "
                "steps over the last third): RL has not reached its optimum yet"
            )
        elif ratio < 1:
            why = "below the prediction and no longer rising: RL stalled short of its optimum"
        else:
            why = "above the prediction: RL overshoots the KL-regularised optimum"
        noise = ""
        if np.isfinite(diff["se"]) and diff["se"] > 0:
            z = diff["mean"] / diff["se"]
            noise = (
                f"; the per-seed gap measured - predicted is {diff['mean']:+.3f} ± "
                f"{diff['se']:.3f} (SE), {abs(z):.1f} standard errors"
            )
        out.append(f"{head}, ratio {num(ratio)}: {why}{noise}.")
    return out


def _label(run: str) -> str:
    if run == "sft_rl":
        return "RL only"
    if run == "half":
        return "RL then SFT (half/half)"
    if run.startswith("alt_"):
        return f"alternate rl:{run[4:]},sft:{run[4:]}"
    if run.startswith("joint_"):
        return f"joint mu={run[6:]}"
    return run


# -- plots ------------------------------------------------------------------------------


def _series(runs: dict, seeds: list[int], name: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [
        [e.get(key, np.nan) for e in runs[s]["evals"][name]]
        for s in seeds
        if name in runs[s]["evals"]
    ]
    first = next((s for s in seeds if name in runs[s]["evals"]), None)
    steps = [e["stage_step"] for e in runs[first]["evals"][name]] if first is not None else []
    n = min((len(r) for r in rows), default=0)
    return np.asarray(steps[:n]), np.asarray([r[:n] for r in rows], float).reshape(len(rows), n)


def band(ax: Any, x: np.ndarray, Y: np.ndarray, label: str, **kw: Any) -> Any:
    """Mean over seeds (rows of ``Y``) as a line, ± std as a shaded band."""
    if Y.size == 0:
        return None
    m, sd = col_mean_std(Y)
    line = ax.plot(x, m, label=label, **kw)[0]
    ax.fill_between(x, m - sd, m + sd, alpha=0.2, color=line.get_color())
    return line


def plots(out: Path, summ: dict[str, Any]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = collect(out)
    runs, seeds = data["runs"], data["seeds"]
    files = []

    # 1. SFT loss through RL, with the C1 predictions
    fig, ax = plt.subplots(figsize=(7, 4.5))
    x, Y = _series(runs, seeds, "sft_rl", "sft_nll_seq")
    band(ax, x, Y, "GRPO (beta=0)", color="k")
    for row in summ["c1"]:
        b = row["beta"]
        x, Y = _series(runs, seeds, f"beta_{b:g}", "sft_nll_seq")
        line = band(ax, x, Y, f"RL, KL-in-reward beta={b:g}")
        if line is not None:
            ax.axhline(
                col_mean_std(Y[:, :1])[0][0] + row["c1_predicted"]["mean"],
                ls="--",
                color=line.get_color(),
                lw=1,
                label=f"before + C1({b:g}) (predicted)",
            )
    label_axes(
        ax,
        "RL step (from the SFT model)",
        "held-out SFT loss (nats / response)",
        "SFT -> RL: SFT loss through RL (dashed: before + C1(beta))",
        legend=7,
    )
    files.append(save_fig(fig, out / "sft_loss_through_rl.png"))

    # 2. the theory check: the measured rise approaching C1(beta)
    if any("trajectory" in r for r in summ["c1"]):
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.3))
        for row in summ["c1"]:
            tr = row.get("trajectory")
            if not tr:
                continue
            b, pm = row["beta"], row["c1_predicted"]["mean"]
            xs, m, sd = (np.asarray(tr[k], float) for k in ("stage_step", "rise_mean", "rise_std"))
            line = a1.plot(xs, m, label=f"beta={b:g}: measured rise")[0]
            a1.fill_between(xs, m - sd, m + sd, alpha=0.2, color=line.get_color())
            a1.axhline(pm, ls="--", lw=1, color=line.get_color(), label=f"C1({b:g}) predicted")
            if row["checked"]:
                a2.plot(xs, m / pm, color=line.get_color(), label=f"beta={b:g}")
        a2.axhspan(1 - C1_TOLERANCE, 1 + C1_TOLERANCE, color="gray", alpha=0.2, label="±15%")
        a2.axhline(1, color="k", lw=0.8)
        label_axes(
            a1,
            "RL step",
            "rise of the held-out SFT loss (nats / response)",
            "Measured rise vs C1(beta)",
            legend=7,
        )
        label_axes(
            a2, "RL step", "measured / predicted", f"Ratio, for C1 > {C1_CHECKED:g}", legend=7
        )
        files.append(save_fig(fig, out / "c1_approach.png"))

    # 3. reward through SFT
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, lab in (("reward", "sampled reward (T=1)"), ("greedy_acc", "greedy accuracy")):
        band(ax, *_series(runs, seeds, "rl_sft", key), lab)
    label_axes(
        ax, "SFT step (from the RL model)", "reward", "RL -> SFT: reward through SFT", legend=8
    )
    files.append(save_fig(fig, out / "reward_through_sft.png"))

    # 4. gradient cosine through base SFT, RL, SFT
    fig, ax = plt.subplots(figsize=(8, 4))
    off = 0
    for name, lab in (("base", "SFT"), ("sft_rl", "RL"), ("rl_sft", "SFT again")):
        x, Y = _series(runs, seeds, name, "grad_cos")
        if Y.size:
            band(ax, x + off, Y, lab)
            off += int(x.max()) if len(x) else 0
            ax.axvline(off, color="gray", lw=0.5)
    ax.axhline(0, color="k", lw=0.8)
    label_axes(
        ax,
        "step (stages end to end)",
        "cos(grad L_SFT, grad L_RL)",
        "Gradient cosine on fixed probe batches",
        legend=8,
    )
    files.append(save_fig(fig, out / "grad_cosine.png"))

    # 5. Pareto plot of the schedules
    fig, ax = plt.subplots(figsize=(6.5, 5))
    st = summ["schedules"]["start"]
    loss_reward_point(ax, st, fmt="s", color="gray", label="start (SFT model)")
    for row in summ["schedules"]["rows"]:
        loss_reward_point(
            ax,
            row,
            fmt="o" if row["pareto"] else "x",
            label=row["schedule"] + (" (Pareto)" if row["pareto"] else ""),
        )
    label_axes(
        ax,
        "held-out SFT loss (nats / response), lower is better",
        "reward, higher is better",
        _budget_title(summ["schedules"]["budget_steps"]),
        legend=7,
    )
    files.append(save_fig(fig, out / "pareto.png"))
    return files


def _budget_title(budgets: list[int]) -> str:
    if len(budgets) == 1:
        return f"Schedules at an equal budget of {budgets[0]} steps"
    return f"Schedules (budgets differ: {', '.join(map(str, budgets))} steps)"


def loss_reward_point(ax: Any, row: dict[str, Any], **kw: Any) -> None:
    """One point of a Pareto plot: ``row``'s mean SFT loss and reward, +- their stds.

    ``row`` holds ``{"sft_loss": {"mean", "std"}, "reward": {"mean", "std"}}``;
    ``kw`` goes to ``ax.errorbar`` (fmt, color, label).
    """
    ax.errorbar(
        row["sft_loss"]["mean"],
        row["reward"]["mean"],
        xerr=row["sft_loss"]["std"],
        yerr=row["reward"]["std"],
        **kw,
    )


def label_axes(ax: Any, xlabel: str, ylabel: str, title: str, legend: int = 8) -> None:
    """Axis labels, title and a legend in ``legend``-point type."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=legend)


def save_fig(fig: Any, path: Path) -> str:
    """Save and close ``fig``; return the file name (for the report's links)."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path.name


# -- markdown ---------------------------------------------------------------------------


def table(summ: dict[str, Any]) -> str:
    lines = ["| effect | before | after | change | test | p |", "|---|---|---|---|---|---|"]
    if "sft_then_rl" in summ:
        p = summ["sft_then_rl"]
        lines.append(
            f"| SFT -> RL: held-out SFT loss (nats/resp.) | {fmt(p['sft_loss_before'])} "
            f"| {fmt(p['sft_loss_after'])} | {p['mean_diff']:+.3f} | paired t, "
            f"one-sided | {num(p['p_value'], '.2g')} |"
        )
    if "rl_then_sft" in summ:
        p = summ["rl_then_sft"]
        lines.append(
            f"| RL -> SFT: sampled reward | {fmt(p['reward_before'])} | "
            f"{fmt(p['reward_after'])} | {p['mean_diff']:+.3f} | paired t, one-sided | "
            f"{num(p['p_value'], '.2g')} |"
        )
        g = p["greedy_test"]
        lines.append(
            f"| RL -> SFT: greedy accuracy | {fmt(p['greedy_acc_before'])} | "
            f"{fmt(p['greedy_acc_after'])} | {num(g['mean_diff'], '+.3f')} | paired t, "
            f"one-sided | {num(g['p_value'], '.2g')} |"
        )
    out = ["\n".join(lines)]
    if summ.get("c1"):
        t = [
            "| beta | C1(beta) predicted | rise measured | measured / predicted |",
            "|---|---|---|---|",
        ]
        for r in summ["c1"]:
            if r["c1_predicted"]["mean"] < 0:
                ratio = "— (C1 < 0: premise not met)"
            elif not r["checked"]:
                ratio = f"— (C1 <= {C1_CHECKED:g})"
            else:
                ok = "within" if r["within_tolerance"] else "outside"
                ratio = f"{num(r['measured_over_predicted'])} ({ok} ±{C1_TOLERANCE:.0%})"
            t.append(
                f"| {r['beta']:g} | {fmt(r['c1_predicted'])} | {fmt(r['rise_measured'])} "
                f"| {ratio} |"
            )
        out.append("\n".join(t))
    if summ.get("schedules", {}).get("rows"):
        st = summ["schedules"]["start"]
        t = [
            "| schedule | steps | SFT loss (nats/resp.) | reward | Pareto |",
            "|---|---|---|---|---|",
            f"| start (SFT model) | 0 | {fmt(st['sft_loss'])} | {fmt(st['reward'])} | |",
        ]
        for r in sorted(summ["schedules"]["rows"], key=lambda r: r["sft_loss"]["mean"]):
            t.append(
                f"| {r['schedule']} | {r['steps']} | {fmt(r['sft_loss'])} | {fmt(r['reward'])} | "
                f"{'yes' if r['pareto'] else ''} |"
            )
        out.append("\n".join(t))
    return "\n\n".join(out)


def how_made(run: dict[str, Any] | None, full_hint: str) -> list[str]:
    """Markdown lines: how the run was made (from ``run.json``), and whether it is the
    full protocol."""
    if not run:
        return ["How this run was made is not recorded (no run.json).", ""]
    md = []
    if not run.get("full_protocol"):
        md += [
            f"> **Not the full protocol** ({full_hint}): the numbers describe this run only.",
            "",
        ]

    def get(key: str) -> str:
        v = run.get(key)
        return "not recorded" if v is None or v == "" else str(v)

    md += [
        f"- command: `{get('command')}`",
        f"- preset: {get('preset')}; model: {get('model')}; scale: {get('scale')}",
        "- --set: " + (", ".join(f"`{x}`" for x in run["set"]) if run.get("set") else "none"),
        "- seeds: " + (", ".join(str(s) for s in run.get("seeds") or []) or "not recorded"),
        "- steps: "
        + (", ".join(f"{k} {v}" for k, v in (run.get("steps") or {}).items()) or "not recorded"),
        "",
    ]
    return md


def cost_line(cost: dict[str, float], elapsed_s: float | None) -> str:
    """The run's cost in words: CPU seconds of its jobs (a 2-core machine divides them
    by 2 at best), and the wall time it took here."""
    if not cost.get("jobs_timed"):
        return "Cost: not recorded."
    wall = f"; wall time here {elapsed_s / 60:.1f} min" if elapsed_s else ""
    return (
        f"Cost: {cost['cpu_s']:.0f} CPU seconds in {cost['jobs_timed']} job processes "
        f"(about {cost['cpu_s'] / 120:.1f} min on 2 otherwise idle cores){wall}."
    )


def write_report(out: Path, preset: str, elapsed_s: float | None = None) -> dict[str, Any]:
    """Write summary.json, the plots and report.md into ``out``; return the summary."""
    summ = summarize(out)
    summ["preset"] = preset
    if elapsed_s is not None:
        summ["elapsed_s"] = elapsed_s
    figs = plots(out, summ)
    write_json(out / "summary.json", summ)
    md = [
        f"# SFT and RL do not decouple: measured ({preset})",
        "",
        "Seeds: " + ", ".join(map(str, summ["seeds"])) + ". Paper: arXiv 2601.07389. "
        "Mean ± std over seeds.",
        "",
        "## How this run was made",
        "",
        *how_made(summ["run"], "the full protocol is --scale 1, no --set, at least 3 seeds"),
        cost_line(summ["cost"], elapsed_s),
        "",
        "## Verdicts",
        "",
    ]
    if "sft_then_rl" in summ:
        md += ["**Claim 1 (SFT -> RL raises the SFT loss).** " + summ["sft_then_rl"]["verdict"], ""]
    if "rl_then_sft" in summ:
        md += ["**Claim 2 (RL -> SFT lowers the reward).** " + summ["rl_then_sft"]["verdict"], ""]
    if summ.get("c1"):
        md += [
            "**Theory.** Rise of the held-out SFT loss after the RL budget against the "
            "C1(beta) prediction (a ratio of 1.0 = the RL optimum reached; checked for "
            f"C1 > {C1_CHECKED:g}, agreement = within {C1_TOLERANCE:.0%}; see c1_approach.png "
            "for the approach over RL steps):",
            "",
            *[f"- {x}" for x in theory_sentences(summ["c1"])],
            "",
        ]
    gc = summ.get("grad_cosine", {})
    for n, lab in (("sft_rl", "RL after SFT"), ("rl_sft", "SFT after RL")):
        if n in gc:
            md.append(
                f"**Gradient cosine, {lab}.** Mean {fmt(gc[n]['mean_cosine'])}. Per seed, the "
                f"first negative cosine: {_per_seed(gc[n]['first_negative_cosine_step'], 'never')}"
                f"; the degradation starts: "
                f"{_per_seed(gc[n]['degradation_start_step'], 'not reached')} (steps)."
            )
    md += ["", "## Numbers", "", table(summ), "", "## Plots", ""]
    md += [f"![{f}]({f})" for f in figs]
    (out / "report.md").write_text("\n".join(md) + "\n")
    return summ


def json_safe(x: Any) -> Any:
    """``x`` with every non-finite float as ``None`` (JSON has no NaN / Infinity)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    return x


def write_json(path: Path, data: Any) -> None:
    """Strict JSON (non-finite floats as null), written atomically."""
    from postcouple.train.checkpoint import atomic_write_bytes

    text = json.dumps(json_safe(data), indent=1, allow_nan=False)
    atomic_write_bytes(path, text.encode())


def _per_seed(values: list[Any], missing: str) -> str:
    """``[5, None]`` -> ``"5, never"`` (prose never shows Python's None)."""
    if not values:
        return missing
    return ", ".join(missing if v is None else str(v) for v in values)
