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


def _evals(run: Path) -> list[dict[str, Any]]:
    f = run / "metrics.jsonl"
    if not f.exists():
        return []
    return [
        r
        for r in (json.loads(ln) for ln in f.read_text().splitlines() if ln.strip())
        if r["kind"] == "eval"
    ]


def _ms(x: list[float]) -> dict[str, float]:
    a = np.asarray(x, float)
    return {
        "mean": float(a.mean()) if len(a) else math.nan,
        "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
    }


def _fmt(m: dict[str, float], nd: int = 3) -> str:
    return f"{m['mean']:.{nd}f} ± {m['std']:.{nd}f}"


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


def _verdict(name: str, what: str, before: dict, after: dict, test: dict, claim: str) -> str:
    p = test["p_value"]
    direction_ok = (test["mean_diff"] > 0) == (claim == "greater")
    if direction_ok and p < ALPHA:
        return (
            f"**Reproduced.** {what} went from {_fmt(before)} to {_fmt(after)} "
            f"(mean change {test['mean_diff']:+.3f}; {test['test']}, p = {p:.2g})."
        )
    if direction_ok:
        return (
            f"**In the claimed direction but not significant** at {ALPHA}: {what} went from "
            f"{_fmt(before)} to {_fmt(after)} ({test['test']}, p = {p:.2g})."
        )
    return (
        f"**Not reproduced.** {what} went from {_fmt(before)} to {_fmt(after)}, against the "
        f"claimed direction ({test['test']}, p = {p:.2g})."
    )


def summarize(out: Path) -> dict[str, Any]:
    data = collect(out)
    seeds = data["seeds"]
    runs = data["runs"]
    summ: dict[str, Any] = {"seeds": seeds}

    # -- protocol 1: SFT -> RL --------------------------------------------------------
    b, a, rb, ra = [], [], [], []
    for s in seeds:
        ev = runs[s]["evals"].get("sft_rl")
        if ev:
            b.append(ev[0]["sft_nll_seq"])
            a.append(ev[-1]["sft_nll_seq"])
            rb.append(ev[0]["reward"])
            ra.append(ev[-1]["reward"])
    if b:
        t = paired_test(b, a, "greater")
        p1 = {
            "metric": "held-out SFT loss (nats per response)",
            "sft_loss_before": _ms(b),
            "sft_loss_after": _ms(a),
            "per_seed": {"before": b, "after": a},
            "reward_before": _ms(rb),
            "reward_after": _ms(ra),
            **t,
        }
        p1["verdict"] = _verdict(
            "sft_then_rl",
            "the held-out SFT loss through RL",
            p1["sft_loss_before"],
            p1["sft_loss_after"],
            t,
            "greater",
        )
        summ["sft_then_rl"] = p1

    # -- protocol 2: RL -> SFT ----------------------------------------------------------
    b, a, gb, ga = [], [], [], []
    for s in seeds:
        ev = runs[s]["evals"].get("rl_sft")
        if ev:
            b.append(ev[0]["reward"])
            a.append(ev[-1]["reward"])
            gb.append(ev[0].get("greedy_acc", math.nan))
            ga.append(ev[-1].get("greedy_acc", math.nan))
    if b:
        t = paired_test(b, a, "less")
        p2 = {
            "metric": "mean reward of samples at temperature 1",
            "reward_before": _ms(b),
            "reward_after": _ms(a),
            "per_seed": {"before": b, "after": a},
            "greedy_acc_before": _ms(gb),
            "greedy_acc_after": _ms(ga),
            "greedy_test": paired_test(gb, ga, "less"),
            **t,
        }
        p2["verdict"] = _verdict(
            "rl_then_sft",
            "the sampled reward through SFT",
            p2["reward_before"],
            p2["reward_after"],
            t,
            "less",
        )
        summ["rl_then_sft"] = p2

    # -- theory: C1(beta) vs the measured rise -------------------------------------------
    theory = []
    betas = sorted({c["beta"] for s in seeds for c in runs[s]["c1"]})
    for beta in betas:
        pred, meas = [], []
        for s in seeds:
            c = [c for c in runs[s]["c1"] if c["beta"] == beta]
            ev = runs[s]["evals"].get(f"beta_{beta:g}")
            if c and ev:
                pred.append(c[0]["c1"])
                meas.append(ev[-1]["sft_nll_seq"] - ev[0]["sft_nll_seq"])
        if pred:
            row = {
                "beta": beta,
                "c1_predicted": _ms(pred),
                "rise_measured": _ms(meas),
                "per_seed": {"predicted": pred, "measured": meas},
            }
            pm = row["c1_predicted"]["mean"]
            row["measured_over_predicted"] = (
                row["rise_measured"]["mean"] / pm if abs(pm) > 1e-12 else math.nan
            )
            theory.append(row)
    summ["c1"] = theory

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
        L = [runs[s]["evals"][n][-1]["sft_nll_seq"] for s in seeds if n in runs[s]["evals"]]
        R = [runs[s]["evals"][n][-1]["reward"] for s in seeds if n in runs[s]["evals"]]
        sched.append({"schedule": _label(n), "run": n, "sft_loss": _ms(L), "reward": _ms(R)})
    base = [runs[s]["evals"]["base"][-1] for s in seeds if "base" in runs[s]["evals"]]
    for row in sched:
        row["pareto"] = not any(
            o is not row
            and o["sft_loss"]["mean"] <= row["sft_loss"]["mean"]
            and o["reward"]["mean"] >= row["reward"]["mean"]
            and (
                o["sft_loss"]["mean"] < row["sft_loss"]["mean"]
                or o["reward"]["mean"] > row["reward"]["mean"]
            )
            for o in sched
        )
    summ["schedules"] = {
        "start": {
            "sft_loss": _ms([e["sft_nll_seq"] for e in base]),
            "reward": _ms([e["reward"] for e in base]),
        },
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
            "mean_cosine": _ms(
                [
                    e["grad_cos"]
                    for s in seeds
                    for e in runs[s]["evals"].get(n, [])
                    if "grad_cos" in e
                ]
            ),
        }
    summ["grad_cosine"] = cos
    return summ


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
    steps = [e["stage_step"] for e in runs[seeds[0]]["evals"].get(name, [])]
    n = min((len(r) for r in rows), default=0)
    return np.asarray(steps[:n]), np.asarray([r[:n] for r in rows], float)


def plots(out: Path, summ: dict[str, Any]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = collect(out)
    runs, seeds = data["runs"], data["seeds"]
    files = []

    def band(ax: Any, x: np.ndarray, Y: np.ndarray, label: str, **kw: Any) -> None:
        if Y.size == 0:
            return
        m, sd = np.nanmean(Y, 0), np.nanstd(Y, 0)
        line = ax.plot(x, m, label=label, **kw)[0]
        ax.fill_between(x, m - sd, m + sd, alpha=0.2, color=line.get_color())

    # 1. SFT loss through RL, with the C1 predictions
    fig, ax = plt.subplots(figsize=(7, 4.5))
    x, Y = _series(runs, seeds, "sft_rl", "sft_nll_seq")
    band(ax, x, Y, "GRPO (beta=0)", color="k")
    for row in summ["c1"]:
        b = row["beta"]
        x, Y = _series(runs, seeds, f"beta_{b:g}", "sft_nll_seq")
        if Y.size:
            band(ax, x, Y, f"RL, KL-in-reward beta={b:g}")
            ax.axhline(
                np.nanmean(Y[:, 0]) + row["c1_predicted"]["mean"],
                ls="--",
                color=ax.lines[-1].get_color(),
                lw=1,
            )
    ax.set_xlabel("RL step (from the SFT model)")
    ax.set_ylabel("held-out SFT loss (nats / response)")
    ax.set_title("SFT -> RL: SFT loss through RL (dashed: before + C1(beta))")
    ax.legend(fontsize=8)
    files.append(_save(fig, out / "sft_loss_through_rl.png"))

    # 2. reward through SFT
    fig, ax = plt.subplots(figsize=(7, 4.5))
    x, Y = _series(runs, seeds, "rl_sft", "reward")
    band(ax, x, Y, "sampled reward (T=1)")
    x, Y = _series(runs, seeds, "rl_sft", "greedy_acc")
    band(ax, x, Y, "greedy accuracy")
    ax.set_xlabel("SFT step (from the RL model)")
    ax.set_ylabel("reward")
    ax.set_title("RL -> SFT: reward through SFT")
    ax.legend(fontsize=8)
    files.append(_save(fig, out / "reward_through_sft.png"))

    # 3. gradient cosine through base SFT, RL, SFT
    fig, ax = plt.subplots(figsize=(8, 4))
    off = 0
    for name, lab in (("base", "SFT"), ("sft_rl", "RL"), ("rl_sft", "SFT again")):
        x, Y = _series(runs, seeds, name, "grad_cos")
        if Y.size:
            band(ax, x + off, Y, lab)
            off += int(x.max()) if len(x) else 0
            ax.axvline(off, color="gray", lw=0.5)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("step (stages end to end)")
    ax.set_ylabel("cos(grad L_SFT, grad L_RL)")
    ax.set_title("Gradient cosine on fixed probe batches")
    ax.legend(fontsize=8)
    files.append(_save(fig, out / "grad_cosine.png"))

    # 4. Pareto plot of the schedules
    fig, ax = plt.subplots(figsize=(6.5, 5))
    st = summ["schedules"]["start"]
    ax.errorbar(
        st["sft_loss"]["mean"],
        st["reward"]["mean"],
        xerr=st["sft_loss"]["std"],
        yerr=st["reward"]["std"],
        fmt="s",
        color="gray",
        label="start (SFT model)",
    )
    for row in summ["schedules"]["rows"]:
        ax.errorbar(
            row["sft_loss"]["mean"],
            row["reward"]["mean"],
            xerr=row["sft_loss"]["std"],
            yerr=row["reward"]["std"],
            fmt="o" if row["pareto"] else "x",
            label=row["schedule"] + (" (Pareto)" if row["pareto"] else ""),
        )
    ax.set_xlabel("held-out SFT loss (nats / response), lower is better")
    ax.set_ylabel("reward, higher is better")
    ax.set_title("Schedules at equal budget")
    ax.legend(fontsize=7)
    files.append(_save(fig, out / "pareto.png"))
    return files


def _save(fig: Any, path: Path) -> str:
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
            f"| SFT -> RL: held-out SFT loss (nats/resp.) | {_fmt(p['sft_loss_before'])} "
            f"| {_fmt(p['sft_loss_after'])} | {p['mean_diff']:+.3f} | paired t, "
            f"one-sided | {p['p_value']:.2g} |"
        )
    if "rl_then_sft" in summ:
        p = summ["rl_then_sft"]
        lines.append(
            f"| RL -> SFT: sampled reward | {_fmt(p['reward_before'])} | "
            f"{_fmt(p['reward_after'])} | {p['mean_diff']:+.3f} | paired t, one-sided | "
            f"{p['p_value']:.2g} |"
        )
        g = p["greedy_test"]
        lines.append(
            f"| RL -> SFT: greedy accuracy | {_fmt(p['greedy_acc_before'])} | "
            f"{_fmt(p['greedy_acc_after'])} | {g['mean_diff']:+.3f} | paired t, "
            f"one-sided | {g['p_value']:.2g} |"
        )
    out = ["\n".join(lines)]
    if summ.get("c1"):
        t = [
            "| beta | C1(beta) predicted | rise measured | measured / predicted |",
            "|---|---|---|---|",
        ]
        for r in summ["c1"]:
            t.append(
                f"| {r['beta']:g} | {_fmt(r['c1_predicted'])} | {_fmt(r['rise_measured'])} "
                f"| {r['measured_over_predicted']:.2f} |"
            )
        out.append("\n".join(t))
    if summ.get("schedules", {}).get("rows"):
        st = summ["schedules"]["start"]
        t = [
            "| schedule | SFT loss (nats/resp.) | reward | Pareto |",
            "|---|---|---|---|",
            f"| start (SFT model) | {_fmt(st['sft_loss'])} | {_fmt(st['reward'])} | |",
        ]
        for r in sorted(summ["schedules"]["rows"], key=lambda r: r["sft_loss"]["mean"]):
            t.append(
                f"| {r['schedule']} | {_fmt(r['sft_loss'])} | {_fmt(r['reward'])} | "
                f"{'yes' if r['pareto'] else ''} |"
            )
        out.append("\n".join(t))
    return "\n\n".join(out)


def write_report(out: Path, preset: str, elapsed_s: float | None = None) -> dict[str, Any]:
    """Write summary.json, the plots and report.md into ``out``; return the summary."""
    summ = summarize(out)
    summ["preset"] = preset
    if elapsed_s is not None:
        summ["elapsed_s"] = elapsed_s
    figs = plots(out, summ)
    (out / "summary.json").write_text(json.dumps(summ, indent=1))
    md = [
        f"# SFT and RL do not decouple: measured ({preset})",
        "",
        f"Seeds: {summ['seeds']}. Paper: arXiv 2601.07389. Mean ± std over seeds.",
        "",
        "## Verdicts",
        "",
    ]
    if "sft_then_rl" in summ:
        md += ["**Claim 1 (SFT -> RL raises the SFT loss).** " + summ["sft_then_rl"]["verdict"], ""]
    if "rl_then_sft" in summ:
        md += ["**Claim 2 (RL -> SFT lowers the reward).** " + summ["rl_then_sft"]["verdict"], ""]
    if summ.get("c1"):
        ratios = [f"beta={r['beta']:g}: {r['measured_over_predicted']:.2f}" for r in summ["c1"]]
        md += [
            "**Theory.** Measured rise of the SFT loss over the C1(beta) prediction after "
            "the RL budget (1.0 = the RL optimum reached): " + ", ".join(ratios) + ".",
            "",
        ]
    gc = summ.get("grad_cosine", {})
    for n, lab in (("sft_rl", "RL after SFT"), ("rl_sft", "SFT after RL")):
        if n in gc:
            md.append(
                f"**Gradient cosine, {lab}.** mean {_fmt(gc[n]['mean_cosine'])}; first "
                f"negative at steps {gc[n]['first_negative_cosine_step']} (per seed), "
                f"degradation starts at {gc[n]['degradation_start_step']}."
            )
    md += ["", "## Numbers", "", table(summ), "", "## Plots", ""]
    md += [f"![{f}]({f})" for f in figs]
    (out / "report.md").write_text("\n".join(md) + "\n")
    return summ
