"""``postcouple train``: run a schedule of SFT/RL stages from a TOML config or flags.

Examples:

    postcouple train --model tiny --task arith --schedule sft:300,rl:50 --out runs/a
    postcouple train --config run.toml --set rl.beta=0.04 --set seed=1
    postcouple train --config run.toml --resume      # continue an interrupted run

Threads: each process uses one torch intra-op thread unless OMP_NUM_THREADS is
set or --threads says otherwise. On a machine shared by several processes
(several runs, or torchrun ranks) more threads per process make training much
slower, not faster; on a machine of your own, try --threads with the number of
physical cores.

Interruption: Ctrl-C (SIGINT) or SIGTERM lets the current step finish, writes a
checkpoint, prints "interrupted at step N; continue with --resume" and exits
with code 130. A second Ctrl-C stops at once (the last checkpoint is kept).
The resumed run's metrics equal those of an uninterrupted run.
"""

from __future__ import annotations

import argparse
import os
import sys

from postcouple import _cli


def _threads(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value!r}")
    return n


def set_threads(threads: int | None) -> None:
    """One torch intra-op thread unless ``threads`` or OMP_NUM_THREADS says otherwise."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    elif not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(1)
    # else: torch already follows OMP_NUM_THREADS


def main(argv: list[str] | None = None) -> int:
    ap = _cli.ArgumentParser(
        prog="postcouple train",
        description=__doc__.split("\n")[0],
        epilog=__doc__.split("\n", 1)[1],
    )
    ap.add_argument("--config", help="a TOML run config (see postcouple.train.config)")
    _cli.add_set_flag(ap, "override a config key, e.g. rl.beta=0.04 (repeatable)")
    ap.add_argument("--model", help="model name: tiny, qwen3-0.6b-arch, a hub id or a path")
    ap.add_argument("--task", help="task name: arith, gsm8k, math, cola, jsonl")
    ap.add_argument("--task-path", help="data file/folder of the task (task.options.path)")
    ap.add_argument("--schedule", help='e.g. "sft:300,rl:50" or "alt(sft:10,rl:10)x5"')
    ap.add_argument("--out", help="run directory")
    ap.add_argument("--seed", type=int, help="the seed every random stream derives from")
    ap.add_argument("--init-from", help="start from a run directory or model directory")
    ap.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    ap.add_argument("--overwrite", action="store_true", help="start afresh in an existing --out")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar, no TensorBoard")
    ap.add_argument(
        "--threads",
        type=_threads,
        metavar="N",
        help="torch intra-op threads per process (default: OMP_NUM_THREADS if set, else 1)",
    )
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
    _cli.check_run(cfg)  # flags first, so an error names the flag that set the value
    try:
        cfg.validate()
    except (ValueError, TypeError) as e:
        raise _cli.UsageError(str(e)) from None
    _cli.require_train()
    set_threads(a.threads)
    from postcouple.train.engine import run
    from postcouple.train.interrupt import EXIT_INTERRUPTED, TrainingInterrupted, graceful_interrupt

    with graceful_interrupt():
        try:
            last = run(cfg, resume=a.resume, overwrite=a.overwrite)
        except TrainingInterrupted as e:
            print(str(e), file=sys.stderr)
            return EXIT_INTERRUPTED
        except KeyboardInterrupt:  # a second signal: no checkpoint of this step
            print("stopped; continue from the last checkpoint with --resume", file=sys.stderr)
            return EXIT_INTERRUPTED
    if last:
        keys = ("step", "sft_loss", "reward", "greedy_acc", "kl_init")
        print(
            " ".join(
                f"{k}={last[k]:.4g}" if isinstance(last[k], float) else f"{k}={last[k]}"
                for k in keys
                if k in last
            )
        )
    print(f"run: {cfg.out}")
    return 0
