"""The coupling experiment: jobs, their dependencies, and running them as processes.

Per seed, all starting from one SFT-converged model (``base``):

==============  =============================================  ======================
job             what                                           protocol
==============  =============================================  ======================
``base``        SFT to convergence on the expert data          1 (before)
``sft_rl``      RL (GRPO) from base; SFT loss tracked          1: SFT -> RL
``rl_sft``      SFT from sft_rl's end; reward tracked          2: RL -> SFT
``c1``          samples of base: C1(beta) predictions          theory
``beta_B``      RL with KL-in-reward beta = B from base,       theory vs measurement
                annealed lr, to the optimum
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
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from postcouple.coupling.presets import Preset
from postcouple.train.config import RunConfig, apply_overrides, dump_toml, to_dict

#: Run-config keys the protocol sets per job; ``--set`` may not override them.
PROTOCOL_KEYS = ("schedule", "seed", "out", "init_from")


@dataclass
class Job:
    name: str  # "seed0/base"
    kind: str  # "train" | "c1"
    cfg: RunConfig
    after: list[str] = field(default_factory=list)
    steps: int = 0  # for the progress bar
    extra: dict[str, Any] = field(default_factory=dict)
    # a model made by another experiment (``compare --base-from``): only the settings
    # that shape the model must match, not its evaluation or checkpointing
    shared: bool = False


def check_sets(sets: list[str] | None) -> None:
    """Reject ``--set`` overrides of what the protocol sets per job.

    Example:
        >>> check_sets(["eval.num_prompts=16"])
        >>> check_sets(["seed=3"])
        Traceback (most recent call last):
        ...
        ValueError: --set seed=3: the protocol sets 'seed' per job (use --seeds)
    """
    hint = {
        "seed": "use --seeds",
        "out": "use --out",
        "schedule": "the protocol's lengths come from the preset and --scale",
        "init_from": "every job starts from the protocol's own model",
    }
    for s in sets or []:
        top = s.partition("=")[0].strip().split(".")[0]
        if top in PROTOCOL_KEYS:
            raise ValueError(f"--set {s}: the protocol sets {top!r} per job ({hint[top]})")


def scaled(steps: int, scale: float) -> int:
    """``steps * scale`` rounded, at least 1."""
    return max(1, int(round(steps * scale)))


def protocol_lengths(preset: Preset, scale: float = 1.0) -> dict[str, int]:
    """The step counts of every protocol at ``scale`` (also written to ``run.json``)."""
    S, R = scaled(preset.sft_steps, scale), scaled(preset.rl_steps, scale)
    return {
        "base_sft_steps": S,
        "rl_steps": R,  # protocol 1, and the budget of every schedule of protocol 3
        "resft_steps": scaled(preset.resft_steps, scale),
        "beta_rl_steps": scaled(preset.beta_rl_steps, scale),
        "alt_block": max(1, min(scaled(preset.alt_block, scale), R // 2 or 1)),
        "eval_interval_sft": max(1, min(preset.eval_interval_sft, S)),
        "eval_interval_rl": scaled(preset.eval_interval_rl, scale),
    }


def alternating_schedule(steps: int, block: int) -> str:
    """Blocks ``rl:block,sft:block`` filling exactly ``steps`` optimizer steps (a
    shorter last block when ``2 * block`` does not divide ``steps``).

    Example:
        >>> alternating_schedule(45, 4)
        'alt(rl:4,sft:4)x5,rl:3,sft:2'
        >>> alternating_schedule(1, 1)
        'rl:1'
    """
    if steps < 1 or block < 1:
        raise ValueError(
            f"alternating_schedule: steps and block must be >= 1, got {steps}, {block}"
        )
    blocks, rem = divmod(steps, 2 * block)
    items = [f"alt(rl:{block},sft:{block})x{blocks}"] if blocks else []
    if rem:
        items.append(f"rl:{(rem + 1) // 2}")
        if rem // 2:
            items.append(f"sft:{rem // 2}")
    return ",".join(items)


def job_config(
    preset: Preset,
    run_dir: Path,
    schedule: str,
    *,
    seed: int,
    interval: int,
    model: str | None = None,
    sets: list[str] | None = None,
    **over: Any,
) -> RunConfig:
    """The run config of one job: the preset's base, the job's own settings, then ``sets``."""
    if model:
        over.setdefault("model", {})["name"] = model
    over.setdefault("eval", {})["interval"] = interval
    c = preset.config(schedule=schedule, seed=seed, out=str(run_dir), **over)
    return apply_overrides(c, sets) if sets else c


def base_job(
    preset: Preset,
    out: Path,
    seed: int,
    *,
    model: str | None = None,
    scale: float = 1.0,
    sets: list[str] | None = None,
) -> Job:
    """SFT to convergence on the expert data: the model every protocol starts from."""
    n = protocol_lengths(preset, scale)
    S = n["base_sft_steps"]
    cfg = job_config(
        preset,
        out / f"seed{seed}" / "base",
        f"sft:{S}",
        seed=seed,
        interval=n["eval_interval_sft"],
        model=model,
        sets=sets,
    )
    return Job(f"seed{seed}/base", "train", cfg, steps=S)


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
    check_sets(sets)
    jobs: list[Job] = []
    n = protocol_lengths(preset, scale)
    R, S2, RB, k = n["rl_steps"], n["resft_steps"], n["beta_rl_steps"], n["alt_block"]
    ev_r = n["eval_interval_rl"]
    for seed in seeds if seeds is not None else preset.seeds:
        d = out / f"seed{seed}"

        def cfg(name: str, schedule: str, seed: int = seed, d: Path = d, **over: Any) -> RunConfig:
            return job_config(
                preset,
                d / name,
                schedule,
                seed=seed,
                interval=ev_r,
                model=model,
                sets=sets,
                **over,
            )

        base = base_job(preset, out, seed, model=model, scale=scale, sets=sets)
        jobs.append(base)
        init: dict[str, Any] = {"init_from": str(d / "base")}
        jobs.append(
            Job(f"seed{seed}/sft_rl", "train", cfg("sft_rl", f"rl:{R}", **init), [base.name], R)
        )
        jobs.append(
            Job(
                f"seed{seed}/rl_sft",
                "train",
                cfg("rl_sft", f"sft:{S2}", init_from=str(d / "sft_rl")),
                [f"seed{seed}/sft_rl"],
                S2,
            )
        )
        jobs.append(
            Job(
                f"seed{seed}/c1",
                "c1",
                cfg("c1", "sft:1", **init),
                [base.name],
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
                "lr_scheduler_type": preset.beta_lr_scheduler,
            }
            jobs.append(
                Job(
                    f"seed{seed}/beta_{b:g}",
                    "train",
                    cfg(f"beta_{b:g}", f"rl:{RB}", rl=rl, **init),
                    [base.name],
                    RB,
                )
            )
        jobs.append(
            Job(
                f"seed{seed}/alt_{k}",
                "train",
                cfg(f"alt_{k}", alternating_schedule(R, k), **init),
                [base.name],
                R,
            )
        )
        for mu in preset.mus:
            jobs.append(
                Job(
                    f"seed{seed}/joint_{mu:g}",
                    "train",
                    cfg(f"joint_{mu:g}", f"joint:{R}", joint={"mu": mu}, **init),
                    [base.name],
                    R,
                )
            )
        h = max(1, R // 2)
        jobs.append(
            Job(
                f"seed{seed}/half",
                "train",
                cfg("half", f"rl:{h},sft:{max(1, R - h)}", **init),
                [base.name],
                R,
            )
        )
    return jobs


def manifest(
    command: str, argv: list[str], preset: Preset, model: str | None, scale: float, **fields: Any
) -> dict[str, Any]:
    """What ``run.json`` holds: the command line, preset, model and scale, then ``fields``.

    Example:
        >>> from postcouple.coupling.presets import PRESETS
        >>> manifest("postcouple coupling", ["--scale", "0.5"], PRESETS["tiny-arith"], None, 0.5)[
        ...     "command"
        ... ]
        'postcouple coupling --scale 0.5'
    """
    return {
        "command": f"{command} {shlex.join(argv)}",
        "preset": preset.name,
        "model": model or preset.base["model"]["name"],
        "scale": scale,
        **fields,
    }


def write_manifest(out: Path, info: dict[str, Any]) -> None:
    """``run.json``: how the run was made (the report quotes it)."""
    from postcouple.train.checkpoint import atomic_write_bytes

    atomic_write_bytes(out / "run.json", json.dumps(info, indent=1).encode())


def read_manifest(out: Path) -> dict[str, Any] | None:
    f = out / "run.json"
    return json.loads(f.read_text()) if f.exists() else None


def _done(job: Job) -> bool:
    d = Path(job.cfg.out)
    if job.kind == "c1":
        return (d / "c1.json").exists()
    return (d / "final" / "model.safetensors").exists()


#: Settings that do not shape a shared model (a reused base may differ in these).
_NOT_SHAPING = ("out", "eval", "progress", "checkpoint_interval", "keep_checkpoints")


def _check_same_settings(job: Job) -> None:
    """A job directory made with other settings is an error, not a silent reuse."""
    f = Path(job.cfg.out) / "job.toml"
    if not f.exists():
        return
    from postcouple.train.config import load_toml

    old, new = to_dict(load_toml(f)), to_dict(job.cfg)
    # the config section of a stage kind this job never runs cannot shape it
    from postcouple.train.schedule import METHOD_KINDS, parse_schedule

    used = {st.kind for st in parse_schedule(job.cfg.schedule)}
    for k in {"joint", *METHOD_KINDS} - used:
        old.pop(k, None)
        new.pop(k, None)
    if job.shared:
        for k in _NOT_SHAPING:
            old.pop(k, None)
            new.pop(k, None)
    if old != new:
        diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        raise ValueError(
            f"{job.cfg.out} holds a run made with other settings (differing: {diff}); "
            "rerun with the settings it was made with, or use another --out"
        )


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


def _reap(p: subprocess.Popen) -> tuple[int | None, float | None]:
    """``(exit code, CPU seconds)`` of a finished worker, ``(None, None)`` while it runs.
    CPU time (user + system, from ``wait4``) measures a job's cost whatever else
    the machine is doing; where ``wait4`` is missing it is ``None``."""
    if not hasattr(os, "wait4"):
        return p.poll(), None
    try:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
    except ChildProcessError:  # already reaped
        return p.poll(), None
    if pid == 0:
        return None, None
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, ru.ru_utime + ru.ru_stime


def _add_cpu(run_dir: Path, cpu_s: float, wall_s: float) -> None:
    """Add one process's CPU and wall seconds to ``job_time.json`` (a resumed job
    adds up its attempts)."""
    f = run_dir / "job_time.json"
    t = json.loads(f.read_text()) if f.exists() else {"cpu_s": 0.0, "wall_s": 0.0}
    t = {"cpu_s": t["cpu_s"] + cpu_s, "wall_s": t["wall_s"] + wall_s}
    f.write_text(json.dumps(t))


def job_times(jobs_dirs: list[Path]) -> dict[str, float]:
    """Summed ``job_time.json`` of the given run directories: CPU seconds of every job
    process, their wall seconds, and how many jobs recorded one."""
    cpu = wall = 0.0
    n = 0
    for d in jobs_dirs:
        f = d / "job_time.json"
        if f.exists():
            t = json.loads(f.read_text())
            cpu, wall, n = cpu + t["cpu_s"], wall + t["wall_s"], n + 1
    return {"cpu_s": cpu, "wall_s_summed": wall, "jobs_timed": n}


def run_jobs(
    jobs: list[Job], *, workers: int = 2, progress: bool = True, desc: str = "coupling"
) -> None:
    """Run the jobs as processes, ``workers`` at a time, respecting ``after``.

    Raises ``ValueError`` before starting anything when a job's directory holds a
    run made with other settings. On SIGINT or SIGTERM no new job starts; the
    running training jobs finish their step, write a checkpoint and exit (Ctrl-C
    reaches them through the process group; a SIGTERM sent to this process alone is
    passed on as a SIGINT), then
    :class:`~postcouple.train.interrupt.TrainingInterrupted` propagates with the
    number of finished jobs (the caller exits 130; rerunning with ``--resume``
    continues every job from its checkpoint). A second signal kills the workers.
    """
    from postcouple.train.interrupt import (
        EXIT_INTERRUPTED,
        TrainingInterrupted,
        graceful_interrupt,
    )

    for j in jobs:
        _check_same_settings(j)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    pending = [j for j in jobs if not _done(j)]
    names_done = {j.name for j in jobs if _done(j)}
    running: dict[str, tuple[subprocess.Popen, Job, Any]] = {}
    started: dict[str, float] = {}
    total = sum(j.steps for j in jobs)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=desc, unit="step", dynamic_ncols=True)
    forwarded = False
    with graceful_interrupt() as flag:
        try:
            while (pending and not flag.requested) or running:
                if flag.requested and not forwarded and flag.signum == signal.SIGTERM:
                    forwarded = True
                    for p, _, _ in running.values():
                        p.send_signal(signal.SIGINT)
                for name, (p, job, log) in list(running.items()):
                    rc, cpu = _reap(p)
                    if rc is None:
                        continue
                    log.close()
                    del running[name]
                    if flag.requested and rc in (EXIT_INTERRUPTED, -signal.SIGINT):
                        continue  # stopped on request after a checkpoint: resumes later
                    if rc != 0 or not _done(job):
                        tail = Path(job.cfg.out, "job.log").read_text()[-3000:]
                        raise RuntimeError(f"job {name} failed (exit {rc}); its log ends:\n{tail}")
                    if cpu is not None:
                        _add_cpu(Path(job.cfg.out), cpu, time.time() - started[name])
                    names_done.add(name)
                # longest training first (LPT), so that long jobs do not end up alone at
                # the end; the short evaluation-only jobs (C1) before them
                ready = sorted(
                    (j for j in pending if all(a in names_done for a in j.after)),
                    key=lambda j: (j.kind == "train", -j.steps),
                )
                while ready and len(running) < workers and not flag.requested:
                    job = ready.pop(0)
                    pending.remove(job)
                    running[job.name] = _launch(job, env)
                    started[job.name] = time.time()
                if bar is not None:
                    bar.n = sum(_progress(j) for j in jobs)
                    bar.set_postfix_str(f"{len(names_done)}/{len(jobs)} jobs", refresh=False)
                    bar.refresh()
                if pending and not running and not ready and not flag.requested:
                    raise RuntimeError(f"{desc}: jobs wait on dependencies that never ran")
                time.sleep(0.3)
        finally:  # an error or a second signal: stop the workers at once
            for p, _, log in running.values():
                p.kill()
                p.wait()
                log.close()
            if bar is not None:
                bar.n = sum(_progress(j) for j in jobs)
                bar.close()
        if flag.requested:
            raise TrainingInterrupted(len(names_done))


def _launch(job: Job, env: dict[str, str]) -> tuple[subprocess.Popen, Job, Any]:
    """Start one job's worker process, its output appended to ``job.log``."""
    d = Path(job.cfg.out)
    d.mkdir(parents=True, exist_ok=True)
    dump_toml(job.cfg, d / "job.toml")
    spec = {"kind": job.kind, "config": str(d / "job.toml"), **job.extra}
    (d / "job.json").write_text(json.dumps(spec))
    log = open(d / "job.log", "a")
    p = subprocess.Popen(
        [sys.executable, "-m", "postcouple.coupling.worker", str(d / "job.json")],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    return p, job, log
