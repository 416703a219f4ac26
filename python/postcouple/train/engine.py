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

Example:
    >>> from postcouple.train import RunConfig, run
    >>> cfg = RunConfig(schedule="sft:2,rl:1", out="/tmp/pc-doc", progress=False)
    >>> final = run(cfg, overwrite=True)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import json
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from postcouple.train import distributed
from postcouple.train.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    load_weights,
    read_checkpoint,
    restore_rng,
    rng_state,
    save_checkpoint,
)
from postcouple.train.common import EpochSampler, check_finite, lr_at, set_lr
from postcouple.train.config import RunConfig, dump_toml
from postcouple.train.schedule import METHOD_KINDS, parse_schedule


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


class _Metrics:
    def __init__(self, path: Path, tb_dir: Path | None) -> None:
        self.path = path
        self.f = open(path, "a")
        self.tb = None
        if tb_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(tb_dir))
            except Exception:  # tensorboard not installed: JSON lines only
                self.tb = None

    def write(self, rec: dict[str, Any]) -> None:
        self.f.write(json.dumps(rec) + "\n")
        self.f.flush()
        if self.tb is not None:
            for k, v in rec.items():
                if isinstance(v, (int, float)) and k not in ("step", "stage_index"):
                    self.tb.add_scalar(f"{rec['kind']}/{k}", v, rec["step"])

    def close(self) -> None:
        self.f.close()
        if self.tb is not None:
            self.tb.close()


def _truncate_metrics(path: Path, step: int) -> None:
    if not path.exists():
        return
    keep = [
        ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step
    ]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(ln + "\n" for ln in keep))
    tmp.replace(path)


def build(cfg: RunConfig) -> tuple[Any, Any, Any, torch.device]:
    """Model, tokenizer and task of a run config."""
    from postcouple.models import TinySize, load_model_and_tokenizer
    from postcouple.tasks import get_task

    device = _device(cfg)
    dtype = {"auto": None, "float32": torch.float32, "bfloat16": torch.bfloat16}.get(
        cfg.model.dtype, "bad"
    )
    if dtype == "bad":
        raise ValueError(f"model.dtype: expected auto|float32|bfloat16, got {cfg.model.dtype!r}")
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
    task = get_task(cfg.task.name, **cfg.task.options)
    return model, tok, task, device


def load_trained(cfg: RunConfig) -> tuple[Any, Any, Any]:
    """Model (with ``cfg.init_from``'s weights), tokenizer and task, for evaluation."""
    model, tok, task, _ = build(cfg)
    if cfg.init_from:
        load_weights(model, _resolve_init(cfg.init_from))
    return model, tok, task


def run(
    cfg: RunConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    hooks: Sequence[Callable[[dict[str, Any], Context], None]] = (),
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
    """
    from postcouple.train import joint as joint_mod
    from postcouple.train import mixed
    from postcouple.train import rl as rl_mod
    from postcouple.train import sft as sft_mod
    from postcouple.train.evaluate import evaluate

    stages = parse_schedule(cfg.schedule)
    rl_mod.validate(cfg.rl)
    for k in ("interval", "num_examples", "num_prompts", "num_samples"):
        if getattr(cfg.eval, k) < 1:
            raise ValueError(f"eval.{k}: must be >= 1")
    if cfg.checkpoint_interval < 1:
        raise ValueError("checkpoint_interval: must be >= 1")
    out = Path(cfg.out)
    ck_root = out / "checkpoints"
    mpath = out / "metrics.jsonl"
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

    # -- build -----------------------------------------------------------------
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
    opts: dict[str, torch.optim.Optimizer] = {}
    for kind in sorted({s.kind for s in stages}):
        oc = cfg.sft if kind == "sft" else cfg.rl
        opts[kind] = torch.optim.AdamW(
            model.parameters(),
            lr=_base_lr(cfg, kind),
            betas=(oc.adam_beta1, oc.adam_beta2),
            weight_decay=oc.weight_decay,
        )
    samplers = {
        "sft": EpochSampler(len(train), cfg.seed * 7 + 1),
        "rl": EpochSampler(len(train), cfg.seed * 7 + 2),
    }
    state: dict[str, Any] = {"stage_index": 0, "stage_step": 0, "global_step": 0}
    mstate = mixed.MethodState()  # cumulative expert tokens, ReLIFT's buffer
    same_streams = False  # every rank's RNG stream restored from a checkpoint
    if resume:
        ck = latest_checkpoint(ck_root)
        if ck is not None:
            if fsdp:
                msd, osd, state = read_checkpoint(ck)
                distributed.load_full_state(model, opts, msd, osd)
            else:
                state = load_checkpoint(ck, model, opts)
            same_streams = restore_rng(ck, d.rank, d.world_size)
            for k, s in state["samplers"].items():
                samplers[k] = EpochSampler(len(train), samplers[k].seed, s["epoch"], s["pos"])
            mstate = mixed.MethodState.from_dict(state.get("methods"))
            if d.is_main:
                _truncate_metrics(mpath, state["global_step"])
        elif d.is_main:
            shutil.rmtree(out / "final", ignore_errors=True)
            mpath.unlink(missing_ok=True)
    if d.enabled and not same_streams:
        # different sampling streams per rank (after the identical init/restore);
        # a run resumed with the same world size continues each rank's saved stream
        torch.manual_seed(cfg.seed * 1_000_003 + d.rank + 7919 * state["global_step"])
    if d.is_main:
        dump_toml(cfg, out / "config.toml")
    metrics = _Metrics(mpath, out / "tb" if cfg.progress else None) if d.is_main else None

    total = sum(s.steps for s in stages)
    g = state["global_step"]
    last_eval: dict[str, Any] = {}
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        tqdm = None
    bar = (
        tqdm(
            total=total,
            initial=g,
            disable=not cfg.progress or tqdm is None or not d.is_main,
            desc=out.name,
            dynamic_ncols=True,
        )
        if tqdm
        else None
    )

    def do_eval(si: int, kind: str, s: int) -> None:
        nonlocal last_eval
        if metrics is None and not fsdp:  # DDP: rank 0 evaluates alone
            return
        rec = {"kind": "eval", "stage": kind, "stage_index": si, "step": g, "stage_step": s}
        rec.update(evaluate(model, ref_model, tok, task, cfg, g))  # FSDP: on every rank
        if metrics is None:
            return
        ctx = Context(cfg, model, ref_model, tok, task, kind, g)
        for h in hooks:
            h(rec, ctx)
        metrics.write(rec)
        last_eval = rec

    try:
        if g == 0:
            do_eval(0, stages[0].kind, 0)
        for si in range(state["stage_index"], len(stages)):
            spec = stages[si]
            kind = spec.kind
            start = state["stage_step"] if si == state["stage_index"] else 0
            opt = opts[kind]
            oc = cfg.sft if kind == "sft" else cfg.rl
            base_lr = _base_lr(cfg, kind)
            for s in range(start, spec.steps):
                lr = lr_at(s, spec.steps, base_lr, oc.lr_scheduler_type, oc.warmup_ratio)
                set_lr(opt, lr)
                t0 = time.perf_counter()

                def opt_step(
                    opt: torch.optim.Optimizer = opt, clip: float = oc.max_grad_norm
                ) -> None:
                    if not fsdp:  # FSDP reduce-scatters (averages) in backward
                        distributed.average_gradients(model, d)
                    if clip > 0:
                        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
                        gn = gn.full_tensor() if hasattr(gn, "full_tensor") else gn
                        check_finite(gn, "gradient norm")
                    opt.step()
                    opt.zero_grad(set_to_none=True)

                if kind == "sft":
                    batch = [train[i] for i in samplers["sft"].take(cfg.sft.batch_size)]
                    # the global batch: sft_step balances its micro-batches over ranks
                    st = sft_mod.sft_step(model, tok, batch, cfg.sft, device, autocast, d)
                    check_finite(torch.tensor(st["loss"]), "SFT loss")
                    opt_step()
                elif kind == "rl":
                    prompts = [train[i] for i in samplers["rl"].take(cfg.rl.num_prompts)]
                    prompts = distributed.shard(prompts, d, "rl.num_prompts")
                    st = rl_mod.rl_step(
                        model,
                        ref_model,
                        tok,
                        task,
                        prompts,
                        cfg.rl,
                        opt_step,
                        autocast,
                        reward_funcs,
                    )
                elif kind in METHOD_KINDS:  # chord, luffy, hpt, relift, uft (train/mixed.py)
                    prompts = [train[i] for i in samplers["rl"].take(cfg.rl.num_prompts)]
                    batch = []
                    if kind == "chord":  # the expert batch, apart from the rollouts
                        batch = [train[i] for i in samplers["sft"].take(cfg.sft.batch_size)]
                    inputs = mixed.StepInputs(
                        model,
                        ref_model,
                        tok,
                        task,
                        cfg,
                        opt_step,
                        device,
                        autocast,
                        reward_funcs,
                        mixed.schedule_progress(stages, si, s),
                        mixed.method_rng(cfg.seed, g, kind),
                        mstate,
                    )
                    st = mixed.method_step(kind, inputs, prompts, batch)
                else:
                    prompts = [train[i] for i in samplers["rl"].take(cfg.rl.num_prompts)]
                    batch = [train[i] for i in samplers["sft"].take(cfg.sft.batch_size)]
                    joint_tokens = mixed.target_tokens(tok, batch, cfg.sft.max_length)
                    prompts = distributed.shard(prompts, d, "rl.num_prompts")
                    batch = distributed.shard(batch, d, "sft.batch_size")
                    st = joint_mod.joint_step(
                        model,
                        ref_model,
                        tok,
                        task,
                        prompts,
                        batch,
                        cfg,
                        opt_step,
                        device,
                        autocast,
                        reward_funcs,
                    )
                g += 1
                st = distributed.reduce_metrics(st, d)
                if kind in ("sft", "joint"):  # their (global) SFT targets are expert tokens
                    mstate.expert_tokens += int(st["tokens"]) if kind == "sft" else joint_tokens
                    st["expert_tokens"] = mstate.expert_tokens
                if d.enabled:
                    st["world_size"] = d.world_size
                dt = time.perf_counter() - t0
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
                if bar is not None:
                    bar.update(1)
                    post = {"stage": kind, "loss": f"{st['loss']:.3f}"}
                    if "reward" in st:
                        post["reward"] = f"{st['reward']:.2f}"
                    post["tok/s"] = f"{rec['tokens_per_s']:.0f}"
                    bar.set_postfix(post, refresh=False)
                end = s + 1 == spec.steps
                if (s + 1) % cfg.eval.interval == 0 or end:
                    do_eval(si, kind, s + 1)
                if g % cfg.checkpoint_interval == 0 or end:
                    nxt = (
                        {"stage_index": si + 1, "stage_step": 0}
                        if end
                        else {"stage_index": si, "stage_step": s + 1}
                    )
                    state = {
                        **nxt,
                        "global_step": g,
                        "samplers": {k: v.state() for k, v in samplers.items()},
                        "methods": mstate.to_dict(),
                    }
                    msd, osd = distributed.full_state(model, opts) if fsdp else (None, None)
                    rngs = distributed.gather_objects(rng_state(), d)  # one per rank
                    if d.is_main:
                        save_checkpoint(
                            ck_root,
                            g,
                            model,
                            opts,
                            state,
                            cfg.keep_checkpoints,
                            model_state=msd,
                            optim_state=osd,
                            rng_states=rngs,
                        )
                    distributed.barrier(d)
        msd = distributed.full_state(model, {})[0] if fsdp else None
        if d.is_main:
            _save_final(model, tok, out / "final", msd)
        distributed.barrier(d)
    finally:
        if metrics is not None:
            metrics.close()
        distributed.finish(d)
        if bar is not None:
            bar.close()
    return last_eval


def _base_lr(cfg: RunConfig, kind: str) -> float:
    """A stage kind's learning rate: its own section's (``[sft]``, ``[rl]``,
    ``[joint]``, ``[chord]``, ...)."""
    return getattr(cfg, kind).learning_rate


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
    shutil.rmtree(final, ignore_errors=True)
    tmp.replace(final)
