"""``postcouple compare``: SFT+RL methods under one protocol, on one Pareto front.

The protocol (what makes the methods comparable):

- **Same start.** Per seed, every method starts from the same SFT model: the
  coupling experiment's ``base`` job (:func:`postcouple.coupling.experiment.base_job`,
  the same config), trained here or reused from a coupling run with
  ``--base-from runs/coupling``.
- **Equal budget.** Every method runs the same number of optimizer steps
  (``steps``), and every step that samples draws the same rollouts
  (``rl.num_prompts`` x ``rl.num_generations``). The report checks the logged
  step counts and says so when they differ.
- **Expert tokens.** The expert (SFT) tokens each method consumes are summed
  from its training records: the metric ``expert_tokens`` where a stage logs it,
  the target tokens of plain SFT steps, 0 for pure RL.
- **One yardstick.** The held-out SFT loss is the plain, unweighted NLL of the
  held-out expert responses (``sft_nll_seq``, nats per response), measured by the
  engine's evaluation, the same code for every stage kind; no method is judged
  by its own shaped loss. The reward is the mean task reward of samples at
  temperature 1 on held-out prompts.
- **Seeds.** At least 3; the paired test of each method against ``sft_then_rl``
  pairs the runs of one seed (same SFT model, same data order).

Methods are stage kinds of the schedule grammar (``postcouple.train.schedule``).
:data:`METHODS` maps a method's name to its schedule; a method whose stage kind
this build does not register is skipped (or, when asked for by name, rejected
with a ``ValueError``), so new kinds plug in by adding one row.

Jobs run like the coupling experiment's: one-thread processes, ``workers`` at a
time, resumable (a finished job is skipped), with a progress bar.

Example:
    >>> from postcouple.coupling.compare import METHODS, select_methods
    >>> METHODS["alternating"].schedule(10, 3)
    'alt(rl:3,sft:3)x1,rl:2,sft:2'
    >>> select_methods(["joint"])[0]  # the baseline always runs
    ['sft_then_rl', 'joint']
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from postcouple import _cli
from postcouple.coupling.experiment import (
    Job,
    alternating_schedule,
    base_job,
    check_sets,
    job_config,
    scaled,
)
from postcouple.coupling.presets import PRESETS, Preset

BASELINE = "sft_then_rl"


@dataclass(frozen=True)
class Method:
    """One method: how it spends a budget of ``steps`` optimizer steps."""

    name: str
    schedule: Callable[[int, int], str]  # (steps, alternating block) -> schedule string
    label: str
    source: str = ""  # the paper, or "baseline"
    # run-config overrides of this method's jobs (nested dicts, e.g. {"joint": {"mu": 0.3}})
    overrides: dict[str, Any] = field(default_factory=dict)


def _single(kind: str) -> Callable[[int, int], str]:
    return lambda steps, block: f"{kind}:{steps}"


#: Every method ``compare`` knows, by name. A row whose stage kind is not
#: registered in ``postcouple.train.schedule.KINDS`` is skipped.
METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(BASELINE, _single("rl"), "RL (GRPO) from the SFT model", "baseline"),
        Method("joint", _single("joint"), "joint (1-mu) L_RL + mu L_SFT", "baseline"),
        Method("alternating", alternating_schedule, "alternating rl:k / sft:k blocks", "baseline"),
        Method("chord", _single("chord"), "CHORD (mu schedule, phi-weighted SFT)", "2508.11408"),
        Method("luffy", _single("luffy"), "LUFFY (expert solutions in the group)", "2504.14945"),
        Method("hpt", _single("hpt"), "HPT (SFT where the prompt is failed)", "2509.04419"),
        Method("relift", _single("relift"), "ReLIFT (SFT on a buffer of failures)", "2506.07527"),
        Method("uft", _single("uft"), "UFT (annealed expert hints)", "2505.16984"),
    )
}

_KIND = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*:\s*\d+")


def stage_kinds(schedule: str) -> set[str]:
    """The stage kinds a schedule string names (without parsing it, so that an
    unregistered kind can be reported rather than raise).

    Example:
        >>> sorted(stage_kinds("alt(rl:2,sft:2)x3,chord:4"))
        ['chord', 'rl', 'sft']
    """
    return set(_KIND.findall(schedule))


def registered_kinds() -> tuple[str, ...]:
    """The stage kinds this build's schedule grammar accepts (read at call time)."""
    from postcouple.train import schedule

    return tuple(schedule.KINDS)


def select_methods(names: list[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The methods to run, and the ones skipped with the reason.

    ``names=None``: every method of :data:`METHODS` whose stage kinds are
    registered. Explicit ``names``: each must be known and runnable, else a
    ``ValueError`` says why. The baseline ``sft_then_rl`` is always included
    (every method is tested against it).
    """
    kinds = set(registered_kinds())
    explicit = names is not None
    wanted = list(METHODS) if names is None else list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in METHODS]
    if unknown:
        raise ValueError(f"--methods: unknown {unknown}; known: {list(METHODS)}")
    if BASELINE not in wanted:
        wanted.insert(0, BASELINE)
    run, skipped = [], {}
    for n in wanted:
        missing = sorted(stage_kinds(METHODS[n].schedule(2, 1)) - kinds)
        if not missing:
            run.append(n)
            continue
        why = (
            f"stage kind {', '.join(repr(k) for k in missing)} is not registered in this "
            f"build's schedule grammar (registered: {', '.join(sorted(kinds))})"
        )
        if explicit:
            raise ValueError(f"--methods: {n!r} cannot run: {why}")
        skipped[n] = why
    return run, skipped


# -- the plan ---------------------------------------------------------------------------


def compare_lengths(preset: Preset, scale: float = 1.0, steps: int | None = None) -> dict[str, int]:
    """Step counts of a comparison (also written to ``run.json``).

    Example:
        >>> from postcouple.coupling.presets import PRESETS
        >>> compare_lengths(PRESETS["tiny-arith"], steps=40)["alt_block"]
        15
    """
    n = steps if steps is not None else scaled(preset.compare_steps, scale)
    if n < 1:
        raise ValueError(f"--steps: expected >= 1, got {n}")
    S = scaled(preset.sft_steps, scale)
    return {
        "base_sft_steps": S,
        "method_steps": n,
        "alt_block": max(1, min(scaled(preset.alt_block, scale), n // 2 or 1)),
        "eval_interval": max(1, min(scaled(preset.compare_eval_interval, scale), n)),
    }


def plan_compare(
    preset: Preset,
    out: Path,
    methods: list[str],
    *,
    seeds: tuple[int, ...] | None = None,
    scale: float = 1.0,
    steps: int | None = None,
    model: str | None = None,
    sets: list[str] | None = None,
    base_from: Path | None = None,
) -> list[Job]:
    """Per seed: the SFT model (the coupling experiment's ``base`` job, or a finished one
    under ``base_from``), then one job per method from it."""
    check_sets(sets)
    n = compare_lengths(preset, scale, steps)
    R, k, ev = n["method_steps"], n["alt_block"], n["eval_interval"]
    jobs: list[Job] = []
    for seed in seeds if seeds is not None else preset.seeds:
        base = base_job(
            preset, base_from or out, seed, model=model, scale=scale, sets=_lean_eval(sets)
        )
        # the SFT model's own evaluations are not compared: evaluate it only at its ends
        base.cfg.eval.interval = n["base_sft_steps"]
        if base_from is not None:
            base.shared = True
            if not (Path(base.cfg.out) / "final" / "model.safetensors").exists():
                raise ValueError(
                    f"--base-from: no finished SFT model at {base.cfg.out} (run `postcouple "
                    f"coupling --out {base_from}` with the same preset and --scale first)"
                )
        jobs.append(base)
        for name in methods:
            m = METHODS[name]
            over = _merged({"eval": {"grad_cosine": False}}, m.overrides)
            cfg = job_config(
                preset,
                out / f"seed{seed}" / name,
                m.schedule(R, k),
                seed=seed,
                interval=ev,
                model=model,
                sets=sets,
                init_from=base.cfg.out,
                **over,
            )
            jobs.append(Job(f"seed{seed}/{name}", "train", cfg, [base.name], R))
    return jobs


def _lean_eval(sets: list[str] | None) -> list[str]:
    # the base model's evaluations cost time and are not compared: no gradient cosine
    return ["eval.grad_cosine=false", *(sets or [])]


def _merged(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, v in b.items():
        out[key] = (
            _merged(out[key], v) if isinstance(v, dict) and isinstance(out.get(key), dict) else v
        )
    return out


# -- the command ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv_used = list(sys.argv[1:] if argv is None else argv)
    ap = _cli.ArgumentParser(
        prog="postcouple compare",
        description="Run SFT+RL methods from the same SFT model at an equal budget and rank "
        "them on held-out SFT loss and reward (Pareto front, paired tests against "
        f"{BASELINE}).",
    )
    ap.add_argument(
        "--preset", default="tiny-arith", choices=sorted(PRESETS), help="the experiment's setup"
    )
    ap.add_argument(
        "--methods",
        default=None,
        help=f"comma-separated (default: every runnable one; {BASELINE}, the baseline, always "
        "runs); --list-methods shows them",
    )
    ap.add_argument("--seeds", default=None, help="comma-separated seeds (default: preset's)")
    ap.add_argument("--out", default="runs/compare", help="where runs, plots and report go")
    ap.add_argument("--steps", type=int, default=None, help="optimizer steps per method")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every stage's length")
    ap.add_argument("--model", default=None, help="override the preset's model")
    ap.add_argument(
        "--base-from",
        default=None,
        metavar="DIR",
        help="reuse the SFT models of a finished `postcouple coupling --out DIR` run",
    )
    ap.add_argument("--workers", type=int, default=2, help="processes at a time (one thread each)")
    _cli.add_set_flag(
        ap, "override a run-config key in every job (not schedule, seed, out or init_from)"
    )
    ap.add_argument("--list-methods", action="store_true", help="list the methods and exit")
    ap.add_argument("--report-only", action="store_true", help="rebuild the report from runs")
    ap.add_argument("--no-progress", action="store_true", help="no progress lines")
    a = ap.parse_args(argv_used)
    if a.list_methods:
        run, skipped = select_methods(None)
        for name, m in METHODS.items():
            state = "runs" if name in run else f"skipped: {skipped[name]}"
            print(f"{name:<12} {m.label} [{m.source}]; {m.schedule(100, 10)!r}; {state}")
        return 0
    seeds = _cli.experiment_seeds(ap, a)
    if seeds is not None and len(set(seeds)) != len(seeds):
        ap.error(f"--seeds: repeated seed in {a.seeds!r}")
    names = [x.strip() for x in a.methods.split(",") if x.strip()] if a.methods else None
    from postcouple.coupling.compare_report import table, write_compare_report
    from postcouple.coupling.experiment import manifest, read_manifest, run_jobs, write_manifest
    from postcouple.train.interrupt import EXIT_INTERRUPTED, TrainingInterrupted

    preset = PRESETS[a.preset]
    out = Path(a.out)
    t0 = time.time()
    if not a.report_only:
        try:
            methods, skipped = select_methods(names)
            jobs = plan_compare(
                preset,
                out,
                methods,
                seeds=seeds,
                scale=a.scale,
                steps=a.steps,
                model=a.model,
                sets=a.set,
                base_from=Path(a.base_from) if a.base_from else None,
            )
        except (ValueError, TypeError) as e:
            ap.error(str(e))
        for n, why in skipped.items():
            print(f"postcouple compare: skipping {n}: {why}")
        seeds_run = sorted({j.cfg.seed for j in jobs})
        if len(seeds_run) < 3:
            print(f"postcouple compare: {len(seeds_run)} seed(s); the protocol asks for >= 3")
        out.mkdir(parents=True, exist_ok=True)
        write_manifest(
            out,
            manifest(
                "postcouple compare",
                argv_used,
                preset,
                a.model,
                a.scale,
                set=list(a.set),
                seeds=seeds_run,
                methods=methods,
                skipped=skipped,
                base_from=a.base_from,
                steps=compare_lengths(preset, a.scale, a.steps),
                full_protocol=a.scale == 1.0
                and a.steps is None
                and not a.set
                and len(seeds_run) >= 3,
            ),
        )
        print(
            f"postcouple compare: preset {preset.name}, {len(methods)} methods x "
            f"{len(seeds_run)} seeds, {len(jobs)} jobs, {a.workers} workers -> {out}/"
        )
        try:
            run_jobs(jobs, workers=a.workers, progress=not a.no_progress, desc="compare")
        except ValueError as e:  # the out dir holds runs made with other settings
            ap.error(str(e))
        except (KeyboardInterrupt, TrainingInterrupted) as e:
            # the workers finished their step and wrote a checkpoint (run_jobs)
            done = f" after {e.step} finished jobs" if isinstance(e, TrainingInterrupted) else ""
            print(
                f"\ninterrupted{done}; continue by running the same command ({out}/)",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
    elif read_manifest(out) is None:
        ap.error(f"--report-only: {out}/run.json is missing (no comparison ran there)")
    summ = write_compare_report(out, None if a.report_only else time.time() - t0)
    print()
    print(table(summ))
    print(f"\nreport: {out / 'report.md'}  ({time.time() - t0:.0f} s)")
    return 0
