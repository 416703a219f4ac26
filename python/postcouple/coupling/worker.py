"""One job of the coupling experiment, in its own process: ``python -m
postcouple.coupling.worker JOB.json`` (written by :mod:`postcouple.coupling.experiment`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    import torch

    torch.set_num_threads(1)
    args = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(args[0]).read_text())
    from postcouple.train.config import load_toml

    cfg = load_toml(spec["config"])
    out = Path(cfg.out)
    if spec["kind"] == "train":
        from postcouple.train import run
        from postcouple.train.interrupt import (
            EXIT_INTERRUPTED,
            TrainingInterrupted,
            graceful_interrupt,
        )

        # SIGINT/SIGTERM: finish the step, checkpoint, exit 130; the parent resumes
        # this job from that checkpoint on the next call
        with graceful_interrupt():
            try:
                run(cfg, resume=True)
            except TrainingInterrupted as e:
                print(e, file=sys.stderr)
                return EXIT_INTERRUPTED
        return 0
    if spec["kind"] == "c1":
        from postcouple.coupling.diagnostics import estimate_c1
        from postcouple.train.engine import load_trained

        model, tok, task = load_trained(cfg)
        model.eval()
        res = estimate_c1(
            model,
            tok,
            task,
            spec["betas"],
            num_prompts=spec.get("prompts", 64),
            num_samples=spec.get("samples", 64),
            max_new_tokens=cfg.rl.max_new_tokens,
            seed=cfg.seed,
        )
        from postcouple.train.checkpoint import atomic_write_bytes

        atomic_write_bytes(out / "c1.json", json.dumps(res, indent=1).encode())
        return 0
    raise ValueError(f"job kind: unknown {spec['kind']!r}")


if __name__ == "__main__":
    raise SystemExit(main())
