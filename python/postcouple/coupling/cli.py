"""``postcouple coupling``: run the experiment and write the report (the main job)."""

from __future__ import annotations

import shutil
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
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a run-config key in every job, e.g. eval.num_prompts=16",
    )
    ap.add_argument("--report-only", action="store_true", help="rebuild the report from runs")
    ap.add_argument("--no-progress", action="store_true", help="no progress lines")
    _cli.add_out_flags(ap)
    a = ap.parse_args(argv)
    if a.workers < 1:
        ap.error("--workers must be >= 1")
    if a.scale <= 0:
        ap.error("--scale must be > 0")
    seeds = None
    if a.seeds:
        try:
            seeds = tuple(int(s) for s in a.seeds.split(","))
        except ValueError:
            ap.error(f"--seeds: expected comma-separated integers, got {a.seeds!r}")
    _cli.require_train()
    from postcouple.coupling.experiment import plan, run_jobs
    from postcouple.coupling.report import table, write_report

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
        print(
            f"postcouple coupling: preset {preset.name}, {len(jobs)} jobs, {a.workers} "
            f"workers -> {out}/"
        )
        run_jobs(jobs, workers=a.workers, progress=not a.no_progress)
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
