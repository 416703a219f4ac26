"""Data parallelism under ``torchrun`` (DDP semantics, no wrapper class).

``torchrun --nproc_per_node N -m postcouple train ...`` starts N processes;
each reads ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` and joins one process group
(NCCL on CUDA, gloo on CPU). Choices (and why):

- Every rank draws the same global batch (same sampler seed). SFT builds the
  step's (packed or padded) micro-batches identically on every rank and
  spreads them with ``postcouple.packing.balance`` (Karmarkar–Karp on token
  slots); each rank normalises by the global target-token count, so the step
  equals the single-process step for any length spread. RL keeps a contiguous
  shard of whole prompts (``num_prompts`` must divide by the world size), so a
  GRPO group never spans ranks; joint steps shard both halves that way.
- Gradients are averaged across ranks right before clipping and the optimizer
  step (one flat all-reduce per step), which is DDP's semantics (RL and joint
  steps normalise per rank, as DDP trainers do; SFT as above). A wrapper (``DistributedDataParallel``) would overlap the
  all-reduce with backward, but also wraps ``generate`` and the reference
  model's calls; at these sizes the explicit all-reduce is simpler and exact.
- Rank 0 alone evaluates, writes metrics, checkpoints and the final model;
  train metrics are averaged (token counts summed) across ranks first.
- Sampling streams differ per rank (seed + rank after the identical init).
  Checkpoints keep every rank's RNG state, so a run resumed with the same
  world size continues every stream exactly (one with another world size
  reseeds per rank).

- ``model.fsdp = true``: FSDP2 (``torch.distributed.fsdp.fully_shard``) per
  decoder layer and at the root, for the policy and the reference model.
  Gradients are then reduce-scattered (averaged) by FSDP itself; generation
  runs with ``synced_gpus`` so ranks stay in lockstep; every rank evaluates
  (forwards are collectives) and rank 0 writes; checkpoints hold the full,
  gathered model and optimizer states (resume with the same parallelism).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

T = TypeVar("T")


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init(device_pref: str) -> Dist:
    """Join the torchrun process group if ``WORLD_SIZE > 1``; else a world of one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    use_cuda = device_pref != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Dist(rank, world, local)


def shard(items: list[T], d: Dist, what: str) -> list[T]:
    """This rank's contiguous shard of a global batch."""
    if not d.enabled:
        return items
    if len(items) % d.world_size:
        raise ValueError(f"{what}: {len(items)} does not divide by the world size {d.world_size}")
    k = len(items) // d.world_size
    return items[d.rank * k : (d.rank + 1) * k]


def average_gradients(model: Any, d: Dist) -> None:
    """All-reduce the mean of every gradient (one flat buffer, one collective)."""
    if not d.enabled:
        return
    import torch.distributed as dist

    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:  # a rank that did no backward still joins with zeros
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    grads = [p.grad for p in params]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])  # (P,)
    dist.all_reduce(flat)
    flat /= d.world_size
    off = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[off : off + n].view_as(g))
        off += n


def broadcast_parameters(model: Any, d: Dist) -> None:
    """Make every rank start from rank 0's weights."""
    if not d.enabled:
        return
    import torch.distributed as dist

    with torch.no_grad():
        for p in model.parameters():
            dist.broadcast(p.data, src=0)


def reduce_metrics(st: dict[str, Any], d: Dist) -> dict[str, Any]:
    """Mean over ranks of float metrics; sums for counts (``tokens``, ``micro_batches``)."""
    if not d.enabled:
        return st
    import torch.distributed as dist

    keys = sorted(
        k for k, v in st.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    )
    if not keys:
        return st
    # NCCL reduces only CUDA tensors; gloo takes CPU ones
    dev = (
        torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
    )
    t = torch.tensor([float(st[k]) for k in keys], dtype=torch.float64, device=dev)
    dist.all_reduce(t)
    out = dict(st)
    for k, v in zip(keys, t.tolist()):
        out[k] = v if k in ("tokens", "micro_batches") else v / d.world_size
    return out


def any_rank(flag: bool, d: Dist) -> bool:
    """True on every rank if ``flag`` is true on any rank (one tiny all-reduce)."""
    if not d.enabled:
        return flag
    import torch.distributed as dist

    dev = (
        torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
    )
    t = torch.tensor([1.0 if flag else 0.0], device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def gather_objects(obj: T, d: Dist) -> list[T]:
    """Every rank's ``obj`` (picklable), on every rank, in rank order."""
    if not d.enabled:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * d.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(d: Dist) -> None:
    if d.enabled:
        import torch.distributed as dist

        dist.barrier()


def finish(d: Dist) -> None:
    """Leave the process group (no barrier: a crashed rank must not hang the others)."""
    if d.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def fully_shard_model(model: Any, d: Dist) -> None:
    """FSDP2-shard ``model`` over all ranks: each decoder layer, then the root."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    dev = "cuda" if next(model.parameters()).is_cuda else "cpu"
    mesh = init_device_mesh(dev, (d.world_size,))
    layers = getattr(getattr(model, "model", None), "layers", None)
    if layers is None:
        raise ValueError("model.fsdp: expected a decoder model with model.layers (HF causal LM)")
    for layer in layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    model._postcouple_fsdp = True


def full_state(model: Any, opts: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Gathered model and optimizer state dicts (a collective: call on every rank;
    rank 0 gets the tensors on the CPU, the others empty dicts)."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_optimizer_state_dict,
    )

    o = StateDictOptions(full_state_dict=True, cpu_offload=True)
    msd = get_model_state_dict(model, options=o)
    osd = {k: get_optimizer_state_dict(model, opt, options=o) for k, opt in opts.items()}
    return msd, osd


def load_full_state(
    model: Any, opts: dict[str, Any], msd: dict[str, Any], osd: dict[str, Any]
) -> None:
    """Load gathered state dicts (every rank holds them) into a sharded model and optimizers."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_model_state_dict,
        set_optimizer_state_dict,
    )

    if "lm_head.weight" not in msd and getattr(model.config, "tie_word_embeddings", False):
        msd = {**msd, "lm_head.weight": msd["model.embed_tokens.weight"]}  # saved once
    o = StateDictOptions(full_state_dict=True)
    set_model_state_dict(model, msd, options=o)
    for k, opt in opts.items():
        if k in osd:
            set_optimizer_state_dict(model, opt, osd[k], options=o)
