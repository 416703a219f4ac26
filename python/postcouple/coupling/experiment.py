"""The coupling experiment: jobs, their dependencies, and running them as processes.

Per seed, all starting from one SFT-converged model (``base``):

==============  =============================================  ======================
job             what                                           protocol
==============  =============================================  ======================
``base``        SFT to convergence on the expert data          1 (before)
``sft_rl``      RL (GRPO) from base; SFT loss tracked          1: SFT -> RL
``rl_sft``      SFT from sft_rl's end; reward tracked          2: RL -> SFT
``c1``          samples of base: C1(beta) predictions          theory
``beta_B``      RL with KL-in-reward beta = B from base        theory vs measurement
``alt_K``       the RL budget as alternating blocks rl:K,sft:K 3: schedules
``joint_MU``    the RL budget as joint (1-mu) RL + mu SFT      3: schedules
``half``        half the budget RL, then half SFT              3: schedules
==============  =============================================  ======================

Every job is a separate process with one torch thread (``OMP_NUM_THREADS=1``):
on 2-core machines two threads in one process were measured up to 25x slower
per step when another process held a core, while two one-thread processes gave
about 1.8x the total throughput. Jobs run as soon as their dependency is done,
``workers`` at a time. A job whose ``final/`` exists is skipped, so a killed
experiment resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from postcouple.coupling.presets import Preset
from postcouple.train.config import RunConfig, apply_overrides, dump_toml


@dataclass
class Job:
    name: str  # "seed0/base"
    kind: str  # "train" | "c1"
    cfg: RunConfig
    after: list[str] = field(default_factory=list)
    steps: int = 0  # for the progress bar
    extra: dict[str, Any] = field(default_factory=dict)


def plan(
    preset: Preset,
    out: Path,
    *,
    model: str | None = None,
    seeds: tuple[int, ...] | None = None,
    scale: float = 1.0,
    sets: list[str] | None = None,
) -> list[Job]:
    """All jobs of the experiment (``scale`` shortens every stage, for smoke tests)."""

    def n(steps: int) -> int:
        return max(1, int(round(steps * scale)))

    jobs: list[Job] = []
    S, R, S2, RB = (
        n(preset.sft_steps),
        n(preset.rl_steps),
        n(preset.resft_steps),
        n(preset.beta_rl_steps),
    )
    k = max(1, min(n(preset.alt_block), R // 2 or 1))
    ev_s = max(1, min(preset.eval_interval_sft, S))
    ev_r = max(1, n(preset.eval_interval_rl))
    for seed in seeds if seeds is not None else preset.seeds:
        d = out / f"seed{seed}"

        def cfg(
            name: str, schedule: str, interval: int, seed: int = seed, d: Path = d, **over: Any
        ) -> RunConfig:
            if model:
                over.setdefault("model", {})["name"] = model
            over.setdefault("eval", {})["interval"] = interval
            c = preset.config(schedule=schedule, seed=seed, out=str(d / name), **over)
            return apply_overrides(c, sets) if sets else c

        base = f"seed{seed}/base"
        jobs.append(Job(base, "train", cfg("base", f"sft:{S}", ev_s), steps=S))
        init = {"init_from": str(d / "base")}
        jobs.append(
            Job(f"seed{seed}/sft_rl", "train", cfg("sft_rl", f"rl:{R}", ev_r, **init), [base], R)
        )
        jobs.append(
            Job(
                f"seed{seed}/rl_sft",
                "train",
                cfg("rl_sft", f"sft:{S2}", ev_r, init_from=str(d / "sft_rl")),
                [f"seed{seed}/sft_rl"],
                S2,
            )
        )
        jobs.append(
            Job(
                f"seed{seed}/c1",
                "c1",
                cfg("c1", "sft:1", ev_r, **init),
                [base],
                1,
                {
                    "betas": list(preset.betas),
                    "prompts": preset.c1_prompts,
                    "samples": preset.c1_samples,
                },
            )
        )
        for b in preset.betas:
            rl = {
                "beta": b,
                "use_kl_in_reward": True,
                "estimator": "rloo",
                "loss_agg_mode": "seq-mean-token-sum",
            }
            jobs.append(
                Job(
                    f"seed{seed}/beta_{b:g}",
                    "train",
                    cfg(f"beta_{b:g}", f"rl:{RB}", ev_r, rl=rl, **init),
                    [base],
                    RB,
                )
            )
        blocks = max(1, R // (2 * k))
        jobs.append(
            Job(
                f"seed{seed}/alt_{k}",
                "train",
                cfg(f"alt_{k}", f"alt(rl:{k},sft:{k})x{blocks}", ev_r, **init),
                [base],
                2 * k * blocks,
            )
        )
        for mu in preset.mus:
            jobs.append(
                Job(
                    f"seed{seed}/joint_{mu:g}",
                    "train",
                    cfg(f"joint_{mu:g}", f"joint:{R}", ev_r, joint={"mu": mu}, **init),
                    [base],
                    R,
                )
            )
        h = max(1, R // 2)
        jobs.append(
            Job(
                f"seed{seed}/half",
                "train",
                cfg("half", f"rl:{h},sft:{max(1, R - h)}", ev_r, **init),
                [base],
                R,
            )
        )
    return jobs


def _done(job: Job) -> bool:
    d = Path(job.cfg.out)
    if job.kind == "c1":
        return (d / "c1.json").exists()
    return (d / "final" / "model.safetensors").exists()


def _progress(job: Job) -> int:
    if _done(job):
        return job.steps
    m = Path(job.cfg.out) / "metrics.jsonl"
    if not m.exists():
        return 0
    try:
        lines = m.read_text().splitlines()
        steps = [json.loads(ln)["step"] for ln in lines[-3:] if ln.strip()]
        return max(steps, default=0)
    except (OSError, ValueError, KeyError):
        return 0


def run_jobs(jobs: list[Job], *, workers: int = 2, progress: bool = True) -> None:
    """Run the jobs as processes, ``workers`` at a time, respecting ``after``."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    pending = [j for j in jobs if not _done(j)]
    names_done = {j.name for j in jobs if _done(j)}
    running: dict[str, tuple[subprocess.Popen, Job, Any]] = {}
    total = sum(j.steps for j in jobs)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="coupling", unit="step", dynamic_ncols=True)
    try:
        while pending or running:
            for name, (p, job, log) in list(running.items()):
                rc = p.poll()
                if rc is None:
                    continue
                log.close()
                del running[name]
                if rc != 0 or not _done(job):
                    tail = Path(job.cfg.out, "job.log").read_text()[-3000:]
                    raise RuntimeError(f"job {name} failed (exit {rc}); its log ends:\n{tail}")
                names_done.add(name)
            ready = [j for j in pending if all(a in names_done for a in j.after)]
            while ready and len(running) < workers:
                job = ready.pop(0)
                pending.remove(job)
                d = Path(job.cfg.out)
                d.mkdir(parents=True, exist_ok=True)
                dump_toml(job.cfg, d / "job.toml")
                spec = {"kind": job.kind, "config": str(d / "job.toml"), **job.extra}
                (d / "job.json").write_text(json.dumps(spec))
                log = open(d / "job.log", "w")
                p = subprocess.Popen(
                    [sys.executable, "-m", "postcouple.coupling.worker", str(d / "job.json")],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
                running[job.name] = (p, job, log)
            if bar is not None:
                bar.n = sum(_progress(j) for j in jobs)
                bar.set_postfix_str(f"{len(names_done)}/{len(jobs)} jobs", refresh=False)
                bar.refresh()
            if pending and not running and not ready:
                raise RuntimeError("coupling: jobs wait on dependencies that never ran")
            time.sleep(0.3)
    finally:
        for p, _, log in running.values():
            p.kill()
            log.close()
        if bar is not None:
            bar.n = sum(_progress(j) for j in jobs)
            bar.close()
