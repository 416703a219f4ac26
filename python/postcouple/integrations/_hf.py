"""Hugging Face side of the coupling callback: TRL's data formats to token ids,
sharding over ranks, sampling, log-probs and gradients, RNG save/restore.

Private to :mod:`postcouple.integrations`; imports torch (and, through the
tokenizer, transformers) only when imported itself.

Example:
    >>> from postcouple.integrations._hf import parse_expert
    >>> parse_expert({"prompt": "1+1=", "completion": "2", "solution": "2"}, 0).extra
    {'solution': '2'}
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from postcouple.train.checkpoint import rng_state, set_rng_state
from postcouple.train.logprobs import token_logprobs

NOT_EXTRA = ("prompt", "completion", "completion_ids", "messages")


# -- data: TRL's formats -> token ids ---------------------------------------------


def is_messages(x: Any) -> bool:
    return (
        isinstance(x, list)
        and len(x) > 0
        and all(isinstance(m, dict) and "role" in m and "content" in m for m in x)
    )


def as_rows(ds: Any, what: str) -> list[dict]:
    """A ``datasets.Dataset`` or a sequence of dicts, as a list of dicts."""
    if isinstance(ds, (str, bytes, dict)):
        raise TypeError(
            f"{what}: expected a datasets.Dataset or a list of dicts, got {type(ds).__name__}"
        )
    try:
        rows = [dict(r) for r in ds]
    except (TypeError, ValueError) as e:
        raise TypeError(f"{what}: expected a datasets.Dataset or a list of dicts ({e})") from None
    if not rows:
        raise ValueError(f"{what} is empty")
    return rows


@dataclass
class Expert:
    prompt: Any  # str or list of messages
    completion: Any  # str or list of messages
    extra: dict  # the other columns (what reward functions read)


def parse_expert(row: dict, i: int) -> Expert:
    extra = {k: v for k, v in row.items() if k not in NOT_EXTRA}
    if "prompt" in row and "completion" in row:
        p, c = row["prompt"], row["completion"]
        if isinstance(p, str) and isinstance(c, str):
            return Expert(p, c, extra)
        if is_messages(p) and is_messages(c):
            return Expert(p, c, extra)
        raise TypeError(
            f"sft_eval_dataset[{i}]: 'prompt' and 'completion' must both be strings or both "
            "lists of {'role', 'content'} messages"
        )
    if "messages" in row:
        m = row["messages"]
        if not is_messages(m):
            raise TypeError(
                f"sft_eval_dataset[{i}]['messages']: expected a list of {{'role', 'content'}} dicts"
            )
        last = max((j for j, x in enumerate(m) if x["role"] == "assistant"), default=-1)
        if last <= 0:
            raise ValueError(
                f"sft_eval_dataset[{i}]['messages']: needs an assistant turn after at least one other message"
            )
        return Expert(m[:last], m[last:], extra)
    raise ValueError(
        f"sft_eval_dataset[{i}]: expected 'prompt' and 'completion' columns, or 'messages'; "
        f"got {sorted(row)}"
    )


def template(tok: Any, messages: list, generation_prompt: bool) -> str:
    if not getattr(tok, "chat_template", None):
        raise ValueError(
            "conversational data needs a tokenizer with a chat template "
            "(processing_class.chat_template is not set)"
        )
    return tok.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=generation_prompt
    )


def token_ids(tok: Any, text: str, special: bool) -> list[int]:
    return list(getattr(tok, "tokenizer", tok)(text, add_special_tokens=special)["input_ids"])


def encode_prompt(tok: Any, prompt: Any) -> list[int]:
    """Prompt ids as GRPOTrainer makes them (chat template for messages)."""
    if is_messages(prompt):
        return token_ids(tok, template(tok, prompt, True), False)
    if isinstance(prompt, str):
        return token_ids(tok, prompt, True)
    raise TypeError(f"prompt: expected a string or a list of messages, got {type(prompt).__name__}")


def encode_expert(tok: Any, e: Expert, eos: int, max_length: int | None) -> tuple[list[int], int]:
    """``prompt + completion`` ids and the prompt's length, as SFTTrainer makes them."""
    if isinstance(e.prompt, str):
        p = token_ids(tok, e.prompt, True)
        full = token_ids(tok, e.prompt + e.completion, True)
        if not full or full[-1] != eos:
            full.append(eos)
    else:
        p = token_ids(tok, template(tok, e.prompt, True), False)
        full = token_ids(tok, template(tok, e.prompt + e.completion, False), False)
    n = 0  # the response starts where the two tokenizations diverge (TRL's common prefix)
    while n < min(len(p), len(full)) and p[n] == full[n]:
        n += 1
    if max_length is not None:
        full = full[:max_length]
    return full, min(n, len(full))


# -- processes ------------------------------------------------------------------------


def rank_world() -> tuple[int, int]:
    d = torch.distributed
    if d.is_available() and d.is_initialized():
        return d.get_rank(), d.get_world_size()
    return 0, 1


def gather(obj: Any) -> list[Any]:
    """``obj`` from every rank, in rank order (a collective: every rank calls it)."""
    rank, world = rank_world()
    if world == 1:
        return [obj]
    out: list[Any] = [None] * world
    torch.distributed.all_gather_object(out, obj)
    return out


def shard(n: int) -> tuple[list[int], list[bool]]:
    """This rank's indices (every world-th), padded to ceil(n / world) with repeats
    marked ``False`` so that every rank runs the same number of forwards."""
    rank, world = rank_world()
    idx = list(range(rank, n, world))
    per = -(-n // world)
    keep = [True] * len(idx) + [False] * (per - len(idx))
    idx += [rank % n] * (per - len(idx))
    return idx, keep


def merge(parts: list[list[tuple[int, Any]]], n: int) -> list[Any]:
    out: list[Any] = [None] * n
    for part in parts:
        for i, v in part:
            out[i] = v
    return out


# -- model work ---------------------------------------------------------------------


def model_device(model: Any) -> torch.device:
    return next(model.parameters()).device


def right_pad(seqs: list[list[int]], pad: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), pad, dtype=torch.long)
    att = torch.zeros((len(seqs), T), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        att[i, : len(s)] = 1
    return ids.to(device), att.to(device)


def nll_sums(
    model: Any,
    seqs: list[list[int]],
    plens: list[int],
    pad: int,
    bs: int,
    weights: list[float] | None = None,
) -> tuple[list[float], list[int]]:
    """Summed NLL of each sequence's response tokens, and their count. With
    ``weights``, also accumulates grad of sum(weight * NLL) into ``.grad``."""
    backward = weights is not None
    dev = model_device(model)
    sums: list[float] = []
    counts: list[int] = []
    for i in range(0, len(seqs), bs):
        chunk, pl = seqs[i : i + bs], plens[i : i + bs]
        ids, att = right_pad(chunk, pad, dev)  # (B, T)
        with torch.set_grad_enabled(backward):
            logits = model(input_ids=ids, attention_mask=att, use_cache=False).logits
            tgt = ids[:, 1:]  # (B, T-1)
            pos = torch.arange(1, ids.shape[1], device=dev).unsqueeze(0)  # (1, T-1)
            lens = att.sum(1, keepdim=True)  # (B, 1)
            start = torch.tensor(pl, device=dev).unsqueeze(1)  # (B, 1)
            mask = ((pos >= start) & (pos < lens)).float()  # (B, T-1) response tokens
            nll = -token_logprobs(logits[:, :-1], tgt) * mask  # (B, T-1)
            if weights is not None:  # the same test as ``backward``, spelled for mypy
                w = torch.tensor(weights[i : i + bs], dtype=torch.float32, device=dev)
                (nll.sum(1) * w).sum().backward()
        sums += nll.detach().sum(1).tolist()
        counts += mask.sum(1).long().tolist()
    return sums, counts


@dataclass
class Samples:
    prompt_ids: torch.Tensor  # (B, P) left-padded, B = prompts * n
    prompt_att: torch.Tensor  # (B, P)
    completion_ids: torch.Tensor  # (B, C) pad after the first eos
    completion_mask: torch.Tensor  # (B, C) 1 up to and including the first eos
    texts: list[str]  # (B,)


@torch.no_grad()
def sample(
    model: Any,
    tok: Any,
    prompts: list[list[int]],
    n: int,
    max_new_tokens: int,
    temperature: float,
    pad: int,
    eos: list[int],
    synced: bool,
) -> Samples:
    dev = model_device(model)
    P = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), P), pad, dtype=torch.long)
    att = torch.zeros((len(prompts), P), dtype=torch.long)
    for i, p in enumerate(prompts):  # left padding
        ids[i, P - len(p) :] = torch.tensor(p, dtype=torch.long)
        att[i, P - len(p) :] = 1
    ids = ids.repeat_interleave(n, 0).to(dev)  # (B, P)
    att = att.repeat_interleave(n, 0).to(dev)
    out = model.generate(
        input_ids=ids,
        attention_mask=att,
        do_sample=True,
        temperature=temperature,
        top_k=0,  # no truncation (a model's generation config may set one)
        top_p=1.0,
        max_new_tokens=max_new_tokens,
        pad_token_id=pad,
        eos_token_id=eos,
        use_cache=True,
        synced_gpus=synced,
    )
    comp = out[:, P:]  # (B, C)
    C = comp.shape[1]
    is_eos = torch.isin(comp, torch.tensor(eos, device=comp.device))
    first = torch.where(is_eos.any(1), is_eos.float().argmax(1), torch.full_like(comp[:, 0], C))
    mask = (torch.arange(C, device=comp.device).unsqueeze(0) <= first.unsqueeze(1)).long()
    comp = torch.where(mask.bool(), comp, torch.full_like(comp, pad))
    text_ids = comp.masked_fill(is_eos, pad)
    texts = getattr(tok, "tokenizer", tok).batch_decode(text_ids, skip_special_tokens=True)
    return Samples(ids, att, comp, mask, texts)


def logprob_backward(
    model: Any, s: Samples, weights: torch.Tensor, temperature: float, bs: int
) -> None:
    """Accumulates grad of sum(weights * log pi(completion token)) into ``.grad``."""
    P = s.prompt_ids.shape[1]
    for i in range(0, len(s.texts), bs):
        sl = slice(i, i + bs)
        ids = torch.cat([s.prompt_ids[sl], s.completion_ids[sl]], 1)  # (b, P+C)
        att = torch.cat([s.prompt_att[sl], s.completion_mask[sl]], 1)
        pos = (att.cumsum(1) - 1).clamp(min=0)
        logits = model(input_ids=ids, attention_mask=att, position_ids=pos, use_cache=False).logits
        lp = token_logprobs(logits[:, P - 1 : -1] / temperature, s.completion_ids[sl])  # (b, C)
        (lp * weights[sl] * s.completion_mask[sl]).sum().backward()


def flat_grad(params: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat(
        [(p.grad if p.grad is not None else torch.zeros_like(p)).flatten().float() for p in params]
    )


def all_reduce(x: torch.Tensor) -> torch.Tensor:
    if rank_world()[1] > 1:
        torch.distributed.all_reduce(x)
    return x


# -- RNG ------------------------------------------------------------------------------


def save_rng() -> dict[str, Any]:
    """Every RNG's state around an evaluation, without initializing CUDA."""
    return rng_state(lazy_cuda=True)


def restore_rng(st: dict[str, Any]) -> None:
    """Put back the states :func:`save_rng` read."""
    set_rng_state(st)


def seed_all(seed: int, step: int, rank: int) -> None:
    s = int(np.random.SeedSequence([seed & 0xFFFFFFFF, step, rank]).generate_state(1)[0])
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)  # seeds every CUDA device too


def noop(*args: Any, **kwargs: Any) -> None:
    return None
