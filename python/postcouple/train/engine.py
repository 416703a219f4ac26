"""The run loop: stages in schedule order, evaluation, metrics, checkpoints, resume.

``run(cfg)`` trains ``cfg.model`` on ``cfg.task`` through ``cfg.schedule`` and
writes into ``cfg.out``:

- ``metrics.jsonl``: one JSON object per step (``"kind": "train"``) and per
  evaluation (``"kind": "eval"``), each with ``stage``, ``stage_index``,
  ``step`` (global optimizer steps done) and ``stage_step``;
- ``config.toml``: the resolved config;
- ``checkpoints/``: every ``checkpoint_interval`` steps and at each stage's end
  (see :mod:`postcouple.train.checkpoint`); ``final/``: the trained model
  (``save_pretrained`` layout, loadable with ``from_pretrained`` or as
  ``init_from``).

Optimizers: one AdamW per stage kind (sft, rl, joint, chord, ...), kept across blocks of an
alternating schedule, so ``alt(sft:10,rl:10)x5`` is two interleaved
optimisations rather than ten cold starts; each stage instance runs its own lr
schedule over its steps.

Data parallel: under ``torchrun --nproc_per_node N`` every rank trains on its
shard of each global batch and gradients are averaged (see
:mod:`postcouple.train.distributed`); rank 0 writes everything.

Resuming (``resume=True``) restores weights, optimizer, RNG and data positions
from the latest checkpoint and cuts ``metrics.jsonl`` back to it, so on a CPU a
resumed run's metrics equal an uninterrupted run's.

Interruption: inside :func:`postcouple.train.interrupt.graceful_interrupt`
(``postcouple train`` runs in one), a SIGINT/SIGTERM lets the current step
finish, writes a checkpoint of it and raises
:class:`~postcouple.train.interrupt.TrainingInterrupted`.

The loop reads as: :func:`setup` (model, reference, optimizers, data order),
:func:`restore` (the latest checkpoint, when resuming), then per step
:func:`train_step`, evaluation every ``eval.interval`` steps, :func:`save` every
``checkpoint_interval`` steps and at each stage's end, and the interrupt check.

Example:
    >>> from postcouple.train import RunConfig, run
    >>> cfg = RunConfig(schedule="sft:2,rl:1", out="/tmp/pc-doc", progress=False)
    >>> final = run(cfg, overwrite=True)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import random
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from postcouple.tasks.base import Example
from postcouple.train import distributed
from postcouple.train.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    load_weights,
    read_checkpoint,
    restore_rng,
    rng_state,
    save_checkpoint,
    umask_modes,
)
from postcouple.train.config import RunConfig, dump_toml
from postcouple.train.data import EpochSampler
from postcouple.train.evaluate import evaluate
from postcouple.train.interrupt import TrainingInterrupted, stop_requested
from postcouple.train.joint import joint_step
from postcouple.train.metrics import MetricsWriter, truncate_metrics
from postcouple.train.mixed import (
    MethodState,
    StepInputs,
    method_rng,
    method_step,
    schedule_progress,
    target_tokens,
)
from postcouple.train.optim import (
    OptimizerStep,
    build_optimizers,
    check_finite,
    lr_at,
    set_lr,
    stage_optim,
)
from postcouple.train.rl import rl_step
from postcouple.train.schedule import METHOD_KINDS, StageSpec, parse_schedule
from postcouple.train.sft import sft_step

Hook = Callable[[dict[str, Any], "Context"], None]


class NoLearningSignalWarning(UserWarning):
    """An RL step in which every group's samples got equal rewards."""


@dataclass
class Context:
    """What hooks see: called as ``hook(record, ctx)`` after each evaluation; a hook
    may add keys to ``record`` before it is written."""

    cfg: RunConfig
    model: Any
    ref_model: Any
    tokenizer: Any
    task: Any
    stage: str
    step: int


def _device(cfg: RunConfig) -> torch.device:
    d = cfg.model.device
    if d == "auto":
        d = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(d)


def _resolve_init(path: str) -> Path:
    p = Path(path)
    for cand in (p / "final", latest_checkpoint(p / "checkpoints"), p):
        if cand is not None and (Path(cand) / "model.safetensors").exists():
            return Path(cand)
    raise FileNotFoundError(f"init_from: no model.safetensors under {path}")


def build(cfg: RunConfig) -> tuple[Any, Any, Any, torch.device]:
    """Model, tokenizer and task of a run config."""
    from postcouple.attention import require_varlen
    from postcouple.models import TinySize, load_model_and_tokenizer
    from postcouple.tasks import get_task

    device = _device(cfg)
    dtype = {"auto": None, "float32": torch.float32, "bfloat16": torch.bfloat16}[cfg.model.dtype]
    m = cfg.model
    tiny = TinySize(
        hidden_size=m.hidden_size,
        num_hidden_layers=m.num_hidden_layers,
        intermediate_size=m.intermediate_size,
        num_attention_heads=max(1, m.hidden_size // 16),
        num_key_value_heads=max(1, m.hidden_size // 32),
    )
    model, tok = load_model_and_tokenizer(
        m.name,
        seed=cfg.seed,
        dtype=dtype,
        device=device,
        tiny=tiny,
        attn_implementation=m.attn_implementation,
    )
    if cfg.sft.packing or cfg.rl.packing:  # packed rows need varlen attention
        require_varlen(model)
    task = get_task(cfg.task.name, **cfg.task.options)
    return model, tok, task, device


def load_trained(cfg: RunConfig) -> tuple[Any, Any, Any]:
    """Model (with ``cfg.init_from``'s weights), tokenizer and task, for evaluation."""
    model, tok, task, _ = build(cfg)
    if cfg.init_from:
        load_weights(model, _resolve_init(cfg.init_from))
    return model, tok, task


# -- the state of a run --------------------------------------------------------


@dataclass
class Trainer:
    """Everything a run holds between steps; its position is where the next step starts."""

    cfg: RunConfig
    dist: distributed.Dist
    stages: list[StageSpec]
    model: Any
    ref_model: Any  # the policy as the run started: RL's KL reference, eval's kl_init
    tok: Any
    task: Any
    device: torch.device
    autocast: Any  # bf16 autocast on CUDA with model.dtype "auto", else None
    fsdp: bool
    train: list[Example]
    opts: dict[str, torch.optim.Optimizer]  # one AdamW per stage kind
    opt_steps: dict[str, OptimizerStep]  # built once per stage kind
    samplers: dict[str, EpochSampler]
    reward_funcs: Sequence[Callable] = ()
    # cumulative expert tokens, ReLIFT's buffer (train/mixed.py); state["methods"]
    mstate: MethodState = field(default_factory=MethodState)
    stage_index: int = 0
    stage_step: int = 0
    global_step: int = 0
    saved_step: int = -1  # the global step of the newest checkpoint

    @property
    def out(self) -> Path:
        return Path(self.cfg.out)

    def draw(self, which: str, k: int) -> list[Example]:
        """The next ``k`` training examples of the ``which`` ("sft" or "rl") data order."""
        return [self.train[i] for i in self.samplers[which].take(k)]


def setup(
    cfg: RunConfig, *, resume: bool, overwrite: bool, reward_funcs: Sequence[Callable] = ()
) -> Trainer:
    """Check the config and ``out``; build model, reference, optimizers and data order."""
    cfg.validate()
    stages = parse_schedule(cfg.schedule)
    out = Path(cfg.out)
    ck_root, mpath = out / "checkpoints", out / "metrics.jsonl"
    if not resume and (mpath.exists() or ck_root.exists()):
        if not overwrite:
            raise ValueError(f"out: {out} already holds a run; pass resume or overwrite")
    d = distributed.init(cfg.model.device)
    # -- methods (train/mixed.py): one process only, for now
    if d.enabled and any(s.kind in METHOD_KINDS for s in stages):
        raise ValueError(
            f"schedule: the stage kinds {METHOD_KINDS} run in one process only (not under torchrun)"
        )
    if d.is_main:
        if not resume:
            shutil.rmtree(ck_root, ignore_errors=True)
            shutil.rmtree(out / "final", ignore_errors=True)
            mpath.unlink(missing_ok=True)
        out.mkdir(parents=True, exist_ok=True)
    distributed.barrier(d)

    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    model, tok, task, device = build(cfg)
    if cfg.init_from:
        load_weights(model, _resolve_init(cfg.init_from))
    distributed.broadcast_parameters(model, d)
    ref_model = copy.deepcopy(model).eval()
    for p in ref_model.parameters():
        p.requires_grad_(False)
    fsdp = cfg.model.fsdp and d.enabled  # a world of one has nothing to shard
    if fsdp:
        distributed.fully_shard_model(model, d)
        distributed.fully_shard_model(ref_model, d)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device.type == "cuda" and cfg.model.dtype == "auto"
        else None
    )
    train = task.train_examples()
    if not train:
        raise ValueError(f"task {cfg.task.name!r}: no training examples")
    opts = build_optimizers(model, cfg, {s.kind for s in stages})
    opt_steps = {
        kind: OptimizerStep(model, opt, stage_optim(cfg, kind)[0].max_grad_norm, d, fsdp)
        for kind, opt in opts.items()
    }
    samplers = {
        "sft": EpochSampler(len(train), cfg.seed * 7 + 1),
        "rl": EpochSampler(len(train), cfg.seed * 7 + 2),
    }
    return Trainer(
        cfg=cfg,
        dist=d,
        stages=stages,
        model=model,
        ref_model=ref_model,
        tok=tok,
        task=task,
        device=device,
        autocast=autocast,
        fsdp=fsdp,
        train=train,
        opts=opts,
        opt_steps=opt_steps,
        samplers=samplers,
        reward_funcs=reward_funcs,
    )


def restore(tr: Trainer) -> bool:
    """Continue from ``out``'s latest checkpoint, if there is one (else start afresh).

    Restores weights, optimizer states, every rank's RNG and the data order,
    and cuts ``metrics.jsonl`` back to the checkpoint's step. Returns whether
    this rank's own RNG stream was restored (False: the caller reseeds it).
    """
    d, out = tr.dist, tr.out
    ck = latest_checkpoint(out / "checkpoints")
    if ck is None:
        if d.is_main:
            shutil.rmtree(out / "final", ignore_errors=True)
            (out / "metrics.jsonl").unlink(missing_ok=True)
        return False
    if tr.fsdp:
        msd, osd, state = read_checkpoint(ck)
        distributed.load_full_state(tr.model, tr.opts, msd, osd)
    else:
        state = load_checkpoint(ck, tr.model, tr.opts)
    same_streams = restore_rng(ck, d.rank, d.world_size)
    for k, s in state["samplers"].items():
        tr.samplers[k] = EpochSampler(len(tr.train), tr.samplers[k].seed, s["epoch"], s["pos"])
    tr.stage_index, tr.stage_step = state["stage_index"], state["stage_step"]
    tr.global_step = tr.saved_step = state["global_step"]
    tr.mstate = MethodState.from_dict(state.get("methods"))
    if d.is_main:
        truncate_metrics(out / "metrics.jsonl", tr.global_step)
    return same_streams


def train_step(tr: Trainer, spec: StageSpec, s: int) -> tuple[dict[str, Any], float]:
    """Step ``s`` (0-based) of stage ``spec``: its lr, its batch, its step function.

    Returns the step's metrics (averaged over ranks) and the learning rate used.
    """
    cfg, d, kind = tr.cfg, tr.dist, spec.kind
    oc, base_lr = stage_optim(cfg, kind)
    lr = lr_at(s, spec.steps, base_lr, oc.lr_scheduler_type, oc.warmup_ratio)
    set_lr(tr.opts[kind], lr)
    opt_step = tr.opt_steps[kind]
    if kind == "sft":
        # the global batch: sft_step balances its micro-batches over ranks
        batch = tr.draw("sft", cfg.sft.batch_size)
        st = sft_step(tr.model, tr.tok, batch, cfg.sft, tr.device, tr.autocast, d)
        check_finite(torch.tensor(st["loss"]), "SFT loss")
        opt_step()
    elif kind == "rl":
        prompts = distributed.shard(tr.draw("rl", cfg.rl.num_prompts), d, "rl.num_prompts")
        st = rl_step(
            tr.model,
            tr.ref_model,
            tr.tok,
            tr.task,
            prompts,
            cfg.rl,
            opt_step,
            tr.autocast,
            tr.reward_funcs,
        )
    elif kind in METHOD_KINDS:  # chord, luffy, hpt, relift, uft (train/mixed.py)
        prompts = tr.draw("rl", cfg.rl.num_prompts)
        # chord's expert batch, apart from the rollouts
        batch = tr.draw("sft", cfg.sft.batch_size) if kind == "chord" else []
        inputs = StepInputs(
            tr.model,
            tr.ref_model,
            tr.tok,
            tr.task,
            cfg,
            opt_step,
            tr.device,
            tr.autocast,
            tr.reward_funcs,
            schedule_progress(tr.stages, tr.stage_index, s),
            method_rng(cfg.seed, tr.global_step, kind),
            tr.mstate,
        )
        st = method_step(kind, inputs, prompts, batch)  # counts its expert_tokens
    else:  # joint
        prompts = tr.draw("rl", cfg.rl.num_prompts)
        batch = tr.draw("sft", cfg.sft.batch_size)
        joint_tokens = target_tokens(tr.tok, batch, cfg.sft.max_length)  # the global batch
        prompts = distributed.shard(prompts, d, "rl.num_prompts")
        batch = distributed.shard(batch, d, "sft.batch_size")
        st = joint_step(
            tr.model,
            tr.ref_model,
            tr.tok,
            tr.task,
            prompts,
            batch,
            cfg,
            opt_step,
            tr.device,
            tr.autocast,
            tr.reward_funcs,
        )
    st = distributed.reduce_metrics(st, d)
    if kind in ("sft", "joint"):  # their (global) SFT targets are expert tokens
        tr.mstate.expert_tokens += int(st["tokens"]) if kind == "sft" else joint_tokens
        st["expert_tokens"] = tr.mstate.expert_tokens
    if d.enabled:
        st["world_size"] = d.world_size
    return st, lr


def save(tr: Trainer) -> None:
    """Checkpoint the run at its current position (rank 0 writes; all ranks join)."""
    d = tr.dist
    state = {
        "stage_index": tr.stage_index,
        "stage_step": tr.stage_step,
        "global_step": tr.global_step,
        "samplers": {k: v.state() for k, v in tr.samplers.items()},
        "methods": tr.mstate.to_dict(),
    }
    msd, osd = distributed.full_state(tr.model, tr.opts) if tr.fsdp else (None, None)
    rngs = distributed.gather_objects(rng_state(), d)  # one per rank
    if d.is_main:
        save_checkpoint(
            tr.out / "checkpoints",
            tr.global_step,
            tr.model,
            tr.opts,
            state,
            tr.cfg.keep_checkpoints,
            model_state=msd,
            optim_state=osd,
            rng_states=rngs,
        )
    distributed.barrier(d)
    tr.saved_step = tr.global_step


def _evaluate(
    tr: Trainer, metrics: MetricsWriter | None, hooks: Sequence[Hook], si: int, kind: str, s: int
) -> dict[str, Any] | None:
    """Evaluate, run the hooks, write the record; returns it (on rank 0)."""
    if metrics is None and not tr.fsdp:  # DDP: rank 0 evaluates alone
        return None
    g = tr.global_step
    rec = {"kind": "eval", "stage": kind, "stage_index": si, "step": g, "stage_step": s}
    rec.update(evaluate(tr.model, tr.ref_model, tr.tok, tr.task, tr.cfg, g))  # FSDP: every rank
    if metrics is None:
        return None
    ctx = Context(tr.cfg, tr.model, tr.ref_model, tr.tok, tr.task, kind, g)
    for h in hooks:
        h(rec, ctx)
    metrics.write(rec)
    return rec


def _progress_bar(tr: Trainer, total: int) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(
        total=total,
        initial=tr.global_step,
        disable=not tr.cfg.progress or not tr.dist.is_main,
        desc=tr.out.name,
        dynamic_ncols=True,
    )


def _warn_no_signal(step: int, cfg: RunConfig) -> None:
    warnings.warn(
        f"RL step {step}: in every group of {cfg.rl.num_generations} samples the rewards are"
        " equal (frac_reward_zero_std = 1), so group-relative advantages are 0 and the step"
        " has no learning signal from rewards. The task may be too hard (or too easy) for the"
        " model: train SFT first, or raise rl.num_generations or rl.temperature. Shown once"
        " per run; frac_reward_zero_std in metrics.jsonl tracks it.",
        NoLearningSignalWarning,
        stacklevel=3,
    )


# -- the run -------------------------------------------------------------------


def run(
    cfg: RunConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    hooks: Sequence[Hook] = (),
    reward_funcs: Sequence[Callable] = (),
) -> dict[str, Any]:
    """Train through ``cfg.schedule``; return the last evaluation record.

    Args:
        cfg: the run config.
        resume: continue from ``cfg.out``'s latest checkpoint (a finished run
            returns at once).
        overwrite: allow starting afresh in an ``out`` that already holds a run.
        hooks: called after each evaluation with ``(record, ctx)``.
        reward_funcs: extra reward functions with TRL's signature, added to the
            task's reward with ``cfg.rl.reward_weights``.

    Raises:
        TrainingInterrupted: a stop was requested (SIGINT/SIGTERM inside
            :func:`~postcouple.train.interrupt.graceful_interrupt`); the step
            it names is checkpointed.
    """
    # -- setup and resume ------------------------------------------------------
    tr = setup(cfg, resume=resume, overwrite=overwrite, reward_funcs=reward_funcs)
    d, out, stages = tr.dist, tr.out, tr.stages
    same_streams = restore(tr) if resume else False  # every rank's RNG stream restored
    if d.enabled and not same_streams:
        # different sampling streams per rank (after the identical init/restore);
        # a run resumed with the same world size continues each rank's saved stream
        torch.manual_seed(cfg.seed * 1_000_003 + d.rank + 7919 * tr.global_step)
    if d.is_main:
        dump_toml(cfg, out / "config.toml")
    metrics = None  # rank 0 writes
    if d.is_main:
        metrics = MetricsWriter(out / "metrics.jsonl", out / "tb" if cfg.progress else None)
    bar = _progress_bar(tr, sum(s.steps for s in stages))
    last_eval: dict[str, Any] = {}
    warned = False

    # -- the loop: step, log, evaluate, checkpoint, stop if asked ----------------
    try:
        if tr.global_step == 0:
            last_eval = _evaluate(tr, metrics, hooks, 0, stages[0].kind, 0) or last_eval
        first_stage, first_step = tr.stage_index, tr.stage_step
        for si in range(first_stage, len(stages)):
            spec, kind = stages[si], stages[si].kind
            for s in range(first_step if si == first_stage else 0, spec.steps):
                t0 = time.perf_counter()
                st, lr = train_step(tr, spec, s)
                dt = time.perf_counter() - t0
                end = s + 1 == spec.steps
                tr.global_step += 1
                tr.stage_index, tr.stage_step = (si + 1, 0) if end else (si, s + 1)
                g = tr.global_step
                rec = {
                    "kind": "train",
                    "stage": kind,
                    "stage_index": si,
                    "step": g,
                    "stage_step": s + 1,
                    "lr": lr,
                    **st,
                    "time_step": dt,
                    "tokens_per_s": st.get("tokens", 0) / dt if dt > 0 else 0.0,
                }
                if metrics is not None:
                    metrics.write(rec)
                    # luffy's experts join the groups; hpt and relift turn unsolved
                    # prompts into SFT: equal sample rewards still leave them a signal
                    quiet = kind in ("luffy", "hpt", "relift")
                    if not warned and not quiet and st.get("frac_reward_zero_std") == 1.0:
                        _warn_no_signal(g, cfg)
                        warned = True
                if bar is not None:
                    bar.update(1)
                    post = {"stage": kind, "loss": f"{st['loss']:.3f}"}
                    if "reward" in st:
                        post["reward"] = f"{st['reward']:.2f}"
                    post["tok/s"] = f"{rec['tokens_per_s']:.0f}"
                    bar.set_postfix(post, refresh=False)
                if (s + 1) % cfg.eval.interval == 0 or end:
                    last_eval = _evaluate(tr, metrics, hooks, si, kind, s + 1) or last_eval
                if g % cfg.checkpoint_interval == 0 or end:
                    save(tr)
                last = end and si == len(stages) - 1  # nothing left to resume
                if not last and distributed.any_rank(stop_requested(), d):
                    if tr.saved_step != g:
                        save(tr)
                    raise TrainingInterrupted(g)
        msd = distributed.full_state(tr.model, {})[0] if tr.fsdp else None
        if d.is_main:
            _save_final(tr.model, tr.tok, out / "final", msd)
        distributed.barrier(d)
    finally:
        if metrics is not None:
            metrics.close()
        distributed.finish(d)
        if bar is not None:
            bar.close()
    return last_eval


def _save_final(model: Any, tok: Any, final: Path, state_dict: dict | None = None) -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Writing model shards" bars, one per run
    tmp = final.with_name(".final.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if state_dict is not None:  # FSDP: a plain model from the gathered weights
        from transformers import AutoModelForCausalLM

        dtype = next(iter(state_dict.values())).dtype
        model = AutoModelForCausalLM.from_config(model.config, dtype=dtype)
        model.load_state_dict(state_dict, strict=False)
    model.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    umask_modes(tmp)
    shutil.rmtree(final, ignore_errors=True)
    tmp.replace(final)
