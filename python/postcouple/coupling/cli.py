"""``postcouple coupling``: run the experiment and write the report (the main job)."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from postcouple import _cli
from postcouple.coupling.presets import PRESETS


def main(argv: list[str] | None = None) -> int:
    ap = _cli.ArgumentParser(
        prog="postcouple coupling",
        description="Reproduce the paper's two effects (SFT->RL raises the SFT loss; RL->SFT "
        "lowers the reward), predict them from theory, and compare schedules.",
    )
    ap.add_argument(
        "--preset", default="tiny-arith", choices=sorted(PRESETS), help="the experiment's setup"
    )
    ap.add_argument("--out", default="runs/coupling", help="where runs, plots and report go")
    ap.add_argument("--model", default=None, help="override the preset's model (e.g. tiny)")
    ap.add_argument("--task-path", help="the task's data file or folder (task.options.path)")
    ap.add_argument("--seeds", default=None, help="comma-separated seeds (default: preset's)")
    ap.add_argument("--workers", type=int, default=2, help="processes at a time (one thread each)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every stage's length")
    _cli.add_set_flag(
        ap,
        "override a run-config key in every job, e.g. eval.num_prompts=16 (not "
        "schedule, seed, out or init_from: the protocol sets those)",
    )
    ap.add_argument("--report-only", action="store_true", help="rebuild the report from runs")
    ap.add_argument("--no-progress", action="store_true", help="no progress lines")
    _cli.add_out_flags(ap)
    argv_used = list(sys.argv[1:] if argv is None else argv)
    a = ap.parse_args(argv_used)
    seeds = _cli.experiment_seeds(ap, a)
    _cli.require_train()
    from postcouple.coupling.experiment import (
        manifest,
        plan,
        protocol_lengths,
        read_manifest,
        run_jobs,
        write_manifest,
    )
    from postcouple.coupling.report import table, write_report
    from postcouple.train.interrupt import EXIT_INTERRUPTED, TrainingInterrupted

    preset = PRESETS[a.preset]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if not a.report_only:
        sets = list(a.set) + ([f"task.options.path={a.task_path!r}"] if a.task_path else [])
        try:
            jobs = plan(preset, out, model=a.model, seeds=seeds, scale=a.scale, sets=sets)
        except (ValueError, TypeError) as e:  # from the --set overrides
            msg = _cli.unprefixed(e)
            ap.error(msg if msg.startswith("--set") else f"--set: {msg}")
        _cli.check_out(
            out,
            resume=a.resume,
            overwrite=a.overwrite,
            held=_cli.holds_experiment(out),
            what="experiment",
        )
        _cli.check_run(jobs[0].cfg)
        if a.overwrite:  # only what an experiment writes: seed*/ job folders, the report
            for d in out.glob("seed*"):
                shutil.rmtree(d)
            for name in ("summary.json", "report.md"):
                (out / name).unlink(missing_ok=True)
        seeds_run = sorted({j.cfg.seed for j in jobs})
        write_manifest(
            out,
            manifest(
                "postcouple coupling",
                argv_used,
                preset,
                a.model,
                a.scale,
                set=sets,
                seeds=seeds_run,
                steps=protocol_lengths(preset, a.scale),
                full_protocol=is_full_protocol(a.scale, a.set, seeds_run),
            ),
        )
        print(
            f"postcouple coupling: preset {preset.name}, {len(jobs)} jobs, {a.workers} "
            f"workers -> {out}/"
        )
        try:
            run_jobs(jobs, workers=a.workers, progress=not a.no_progress)
        except ValueError as e:  # the out dir holds a run made with other settings
            ap.error(str(e))
        except (KeyboardInterrupt, TrainingInterrupted) as e:
            # the workers finished their step and wrote a checkpoint (run_jobs)
            done = f" after {e.step} finished jobs" if isinstance(e, TrainingInterrupted) else ""
            print(f"\ninterrupted{done}; continue with --resume ({out}/)", file=sys.stderr)
            return EXIT_INTERRUPTED
    elif read_manifest(out) is None:
        print(f"note: {out}/run.json is missing; the report cannot say how the run was made")
    summ = write_report(out, preset.name, time.time() - t0)
    print()
    print(table(summ))
    print()
    for key, lab in (
        ("sft_then_rl", "Claim 1 (SFT -> RL raises the SFT loss)"),
        ("rl_then_sft", "Claim 2 (RL -> SFT lowers the reward)"),
    ):
        if key in summ:
            print(f"{lab}: {summ[key]['verdict'].replace('**', '')}")
    print(f"\nreport: {out / 'report.md'}  ({time.time() - t0:.0f} s)")
    return 0


def is_full_protocol(scale: float, sets: list[str], seeds: list[int]) -> bool:
    """The paper's protocol as the preset defines it: unscaled, no overrides, >= 3 seeds."""
    return scale == 1.0 and not sets and len(seeds) >= 3
