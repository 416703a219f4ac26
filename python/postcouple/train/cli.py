"""``postcouple train``: run a schedule of SFT/RL stages from a TOML config or flags.

Examples::

    postcouple train --model tiny --task arith --schedule sft:300,rl:50 --out runs/a
    postcouple train --config run.toml --set rl.beta=0.04 --set seed=1
    postcouple train --config run.toml --resume      # continue a killed run
"""

from __future__ import annotations

from postcouple import _cli


def main(argv: list[str] | None = None) -> int:
    ap = _cli.ArgumentParser(
        prog="postcouple train",
        description=__doc__.split("\n")[0],
        epilog=__doc__.split("\n", 1)[1],
    )
    ap.add_argument("--config", help="a TOML run config (see postcouple.train.config)")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. rl.beta=0.04 (repeatable)",
    )
    ap.add_argument("--model", help="model name: tiny, qwen3-0.6b-arch, a hub id or a path")
    ap.add_argument("--task", help="task name: arith, gsm8k, math, cola, jsonl")
    ap.add_argument("--task-path", help="data file/folder of the task (task.options.path)")
    ap.add_argument("--schedule", help='e.g. "sft:300,rl:50" or "alt(sft:10,rl:10)x5"')
    ap.add_argument("--out", help="run directory")
    ap.add_argument("--seed", type=int, help="random seed (data order, init, sampling)")
    ap.add_argument("--init-from", help="start from a run directory or model directory")
    ap.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    ap.add_argument("--overwrite", action="store_true", help="start afresh in an existing --out")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    a = ap.parse_args(argv)
    try:
        cfg = _cli.load_config(a.config, a.set)
        # flags are set directly (no TOML parsing of paths and names)
        if a.model is not None:
            cfg.model.name = a.model
        if a.task is not None:
            cfg.task.name = a.task
        if a.task_path is not None:
            cfg.task.options["path"] = a.task_path
        for flag, attr in (
            (a.schedule, "schedule"),
            (a.out, "out"),
            (a.init_from, "init_from"),
            (a.seed, "seed"),
        ):
            if flag is not None:
                setattr(cfg, attr, flag)
        if a.no_progress:
            cfg.progress = False
    except (ValueError, TypeError, OSError) as e:
        raise _cli.UsageError(str(e)) from None
    _cli.check_out(cfg.out, resume=a.resume, overwrite=a.overwrite)
    _cli.check_run(cfg)
    from postcouple.train.engine import run

    last = run(cfg, resume=a.resume, overwrite=a.overwrite)
    if last:
        keys = ("step", "sft_loss", "reward", "greedy_acc", "kl_ref")
        print(
            " ".join(
                f"{k}={last[k]:.4g}" if isinstance(last[k], float) else f"{k}={last[k]}"
                for k in keys
                if k in last
            )
        )
    print(f"run: {cfg.out}")
    return 0
