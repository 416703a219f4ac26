"""Coupling diagnostics inside any Hugging Face ``Trainer``: a TRL-friendly callback.

The paper (arXiv 2601.07389) says that RL after SFT raises the SFT loss and
that SFT after RL lowers the reward. :class:`CouplingCallback` measures both
in your own ``GRPOTrainer``, ``SFTTrainer`` or any other ``Trainer`` run:

- ``coupling/sft_loss`` — held-out NLL of expert completions, nats per
  response token; ``coupling/sft_nll_seq`` — the same summed per response
  (nats per response, the unit of C1(beta));
- ``coupling/reward``, ``coupling/reward_std`` — mean and std of the summed
  reward of ``num_samples`` completions per held-out prompt (TRL's ``reward``
  and ``reward_std``: unscorable completions, where every function returned
  ``None``, left out), and ``coupling/rewards/<name>/mean`` per function;
- ``coupling/grad_cosine`` — cos(grad L_SFT, grad L_RL) on fixed probe
  batches, with ``coupling/grad_norm_sft`` and ``coupling/grad_norm_rl``;
- ``coupling/c1`` (and ``coupling/c1_se``, ``coupling/expert_reward``) — at
  the start of training, C1(beta) = E_x[log Z_beta(x) - E_{p_D}[r]/beta]
  estimated from the starting model's samples
  (:func:`postcouple.coupling.diagnostics.c1_from_rewards`): the rise of
  ``coupling/sft_nll_seq`` that Theorem 3.1 predicts at the optimum of RL
  with KL coefficient beta towards the starting model.

Choices (each is TRL's where TRL has one):

- Data formats: expert data as prompt/completion (plain strings or message
  lists) or ``messages`` (the response is the last assistant turn, the prompt
  everything before it); prompts as ``prompt`` (string or message list) plus
  the columns the reward functions read. Conversational data goes through the
  tokenizer's own chat template (``add_generation_prompt=True`` for prompts);
  the response starts where the tokenized prompt and prompt+response diverge,
  and plain completions get the EOS token appended, as ``SFTTrainer`` does.
- Sampling: ``temperature``, no top-k/top-p (as ``GRPOConfig``'s defaults),
  stopping at the tokenizer's or the generation config's EOS. Reward functions
  are called as ``GRPOTrainer`` calls them (``prompts``, ``completions``,
  ``completion_ids``, the extra columns, ``trainer_state``) and summed with
  weight 1.
- Schedule: at the start of training, every ``eval_steps`` optimizer steps
  and at the last step. Randomness comes from a generator seeded by
  ``(args.seed, global_step, rank)``; the training RNGs (Python, numpy, torch
  CPU and CUDA) are restored afterwards, as are the model's train/eval mode
  and every ``.grad``, so the training trajectory is the same with or without
  the callback (tested).
- Processes: each rank takes every ``world_size``-th example and prompt (the
  shards padded to equal length so that sharded models run the same number of
  forwards everywhere); per-example results are gathered to every rank, so all
  ranks log the same values through ``Trainer.log`` (whose reporting
  callbacks write from rank 0 only). Batches are
  ``args.per_device_eval_batch_size`` sequences (for sampling: prompts).
- Logging goes through the base ``transformers.Trainer.log`` of the trainer
  the callback is attached to (found on the call stack when training starts;
  set ``callback.trainer`` to choose it yourself), so the values reach
  ``state.log_history`` and every ``report_to`` integration, and subclasses'
  metric buffers (GRPO's running means) are left alone.

Example:
    >>> from postcouple.integrations.trl import CouplingCallback
    >>> from postcouple.rewards.trl import accuracy_reward
    >>> cb = CouplingCallback(
    ...     sft_eval_dataset=[{"prompt": "1+1=", "completion": "2"}],
    ...     reward_funcs=accuracy_reward,
    ...     eval_prompts=[{"prompt": "1+1=", "solution": "2"}],
    ...     eval_steps=10, num_samples=4, max_new_tokens=8,
    ... )
    >>> # trainer = GRPOTrainer(..., callbacks=[cb]); trainer.train()
"""

from __future__ import annotations

import math
import random
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import Trainer, TrainerCallback

from postcouple.coupling.diagnostics import c1_from_rewards
from postcouple.train.common import token_logprobs

__all__ = ["CouplingCallback"]

_NOT_EXTRA = ("prompt", "completion", "completion_ids", "messages")


# -- data: TRL's formats -> token ids ---------------------------------------------


def _is_messages(x: Any) -> bool:
    return (
        isinstance(x, list)
        and len(x) > 0
        and all(isinstance(m, dict) and "role" in m and "content" in m for m in x)
    )


def _rows(ds: Any, what: str) -> list[dict]:
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
class _Expert:
    prompt: Any  # str or list of messages
    completion: Any  # str or list of messages
    extra: dict  # the other columns (what reward functions read)


def _expert(row: dict, i: int) -> _Expert:
    extra = {k: v for k, v in row.items() if k not in _NOT_EXTRA}
    if "prompt" in row and "completion" in row:
        p, c = row["prompt"], row["completion"]
        if isinstance(p, str) and isinstance(c, str):
            return _Expert(p, c, extra)
        if _is_messages(p) and _is_messages(c):
            return _Expert(p, c, extra)
        raise TypeError(
            f"sft_eval_dataset[{i}]: 'prompt' and 'completion' must both be strings or both "
            "lists of {'role', 'content'} messages"
        )
    if "messages" in row:
        m = row["messages"]
        if not _is_messages(m):
            raise TypeError(
                f"sft_eval_dataset[{i}]['messages']: expected a list of {{'role', 'content'}} dicts"
            )
        last = max((j for j, x in enumerate(m) if x["role"] == "assistant"), default=-1)
        if last <= 0:
            raise ValueError(
                f"sft_eval_dataset[{i}]['messages']: needs an assistant turn after at least one other message"
            )
        return _Expert(m[:last], m[last:], extra)
    raise ValueError(
        f"sft_eval_dataset[{i}]: expected 'prompt' and 'completion' columns, or 'messages'; "
        f"got {sorted(row)}"
    )


def _template(tok: Any, messages: list, generation_prompt: bool) -> str:
    if not getattr(tok, "chat_template", None):
        raise ValueError(
            "conversational data needs a tokenizer with a chat template "
            "(processing_class.chat_template is not set)"
        )
    return tok.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=generation_prompt
    )


def _ids(tok: Any, text: str, special: bool) -> list[int]:
    return list(getattr(tok, "tokenizer", tok)(text, add_special_tokens=special)["input_ids"])


def _encode_prompt(tok: Any, prompt: Any) -> list[int]:
    """Prompt ids as GRPOTrainer makes them (chat template for messages)."""
    if _is_messages(prompt):
        return _ids(tok, _template(tok, prompt, True), False)
    if isinstance(prompt, str):
        return _ids(tok, prompt, True)
    raise TypeError(f"prompt: expected a string or a list of messages, got {type(prompt).__name__}")


def _encode_expert(tok: Any, e: _Expert, eos: int, max_length: int | None) -> tuple[list[int], int]:
    """``prompt + completion`` ids and the prompt's length, as SFTTrainer makes them."""
    if isinstance(e.prompt, str):
        p = _ids(tok, e.prompt, True)
        full = _ids(tok, e.prompt + e.completion, True)
        if not full or full[-1] != eos:
            full.append(eos)
    else:
        p = _ids(tok, _template(tok, e.prompt, True), False)
        full = _ids(tok, _template(tok, e.prompt + e.completion, False), False)
    n = 0  # the response starts where the two tokenizations diverge (TRL's common prefix)
    while n < min(len(p), len(full)) and p[n] == full[n]:
        n += 1
    if max_length is not None:
        full = full[:max_length]
    return full, min(n, len(full))


# -- processes ------------------------------------------------------------------------


def _rank_world() -> tuple[int, int]:
    d = torch.distributed
    if d.is_available() and d.is_initialized():
        return d.get_rank(), d.get_world_size()
    return 0, 1


def _gather(obj: Any) -> list[Any]:
    """``obj`` from every rank, in rank order (a collective: every rank calls it)."""
    rank, world = _rank_world()
    if world == 1:
        return [obj]
    out: list[Any] = [None] * world
    torch.distributed.all_gather_object(out, obj)
    return out


def _shard(n: int) -> tuple[list[int], list[bool]]:
    """This rank's indices (every world-th), padded to ceil(n / world) with repeats
    marked ``False`` so that every rank runs the same number of forwards."""
    rank, world = _rank_world()
    idx = list(range(rank, n, world))
    per = -(-n // world)
    keep = [True] * len(idx) + [False] * (per - len(idx))
    idx += [rank % n] * (per - len(idx))
    return idx, keep


def _merge(parts: list[list[tuple[int, Any]]], n: int) -> list[Any]:
    out: list[Any] = [None] * n
    for part in parts:
        for i, v in part:
            out[i] = v
    return out


# -- model work ---------------------------------------------------------------------


def _device(model: Any) -> torch.device:
    return next(model.parameters()).device


def _right_pad(seqs: list[list[int]], pad: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), pad, dtype=torch.long)
    att = torch.zeros((len(seqs), T), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        att[i, : len(s)] = 1
    return ids.to(device), att.to(device)


def _nll_sums(
    model: Any,
    seqs: list[list[int]],
    plens: list[int],
    pad: int,
    bs: int,
    weights: list[bool] | None = None,
) -> tuple[list[float], list[int]]:
    """Summed NLL of each sequence's response tokens, and their count. With
    ``weights``, also accumulates grad of sum(weight * NLL) into ``.grad``."""
    backward = weights is not None
    dev = _device(model)
    sums: list[float] = []
    counts: list[int] = []
    for i in range(0, len(seqs), bs):
        chunk, pl = seqs[i : i + bs], plens[i : i + bs]
        ids, att = _right_pad(chunk, pad, dev)  # (B, T)
        with torch.set_grad_enabled(backward):
            logits = model(input_ids=ids, attention_mask=att, use_cache=False).logits
            tgt = ids[:, 1:]  # (B, T-1)
            pos = torch.arange(1, ids.shape[1], device=dev).unsqueeze(0)  # (1, T-1)
            lens = att.sum(1, keepdim=True)  # (B, 1)
            start = torch.tensor(pl, device=dev).unsqueeze(1)  # (B, 1)
            mask = ((pos >= start) & (pos < lens)).float()  # (B, T-1) response tokens
            nll = -token_logprobs(logits[:, :-1], tgt) * mask  # (B, T-1)
            if backward:
                w = torch.tensor(weights[i : i + bs], dtype=torch.float32, device=dev)
                (nll.sum(1) * w).sum().backward()
        sums += nll.detach().sum(1).tolist()
        counts += mask.sum(1).long().tolist()
    return sums, counts


@dataclass
class _Samples:
    prompt_ids: torch.Tensor  # (B, P) left-padded, B = prompts * n
    prompt_att: torch.Tensor  # (B, P)
    completion_ids: torch.Tensor  # (B, C) pad after the first eos
    completion_mask: torch.Tensor  # (B, C) 1 up to and including the first eos
    texts: list[str]  # (B,)


@torch.no_grad()
def _sample(
    model: Any,
    tok: Any,
    prompts: list[list[int]],
    n: int,
    max_new_tokens: int,
    temperature: float,
    pad: int,
    eos: list[int],
    synced: bool,
) -> _Samples:
    dev = _device(model)
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
    return _Samples(ids, att, comp, mask, texts)


def _logprob_backward(
    model: Any, s: _Samples, weights: torch.Tensor, temperature: float, bs: int
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


def _flat_grad(params: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat(
        [(p.grad if p.grad is not None else torch.zeros_like(p)).flatten().float() for p in params]
    )


def _all_reduce(x: torch.Tensor) -> torch.Tensor:
    if _rank_world()[1] > 1:
        torch.distributed.all_reduce(x)
    return x


# -- RNG ------------------------------------------------------------------------------


def _save_rng() -> dict[str, Any]:
    st: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _restore_rng(st: dict[str, Any]) -> None:
    random.setstate(st["python"])
    np.random.set_state(st["numpy"])
    torch.set_rng_state(st["torch"])
    if "cuda" in st:
        torch.cuda.set_rng_state_all(st["cuda"])


def _seed_all(seed: int, step: int, rank: int) -> None:
    s = int(np.random.SeedSequence([seed & 0xFFFFFFFF, step, rank]).generate_state(1)[0])
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)  # seeds every CUDA device too


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


# -- the callback ----------------------------------------------------------------------


class CouplingCallback(TrainerCallback):
    """Logs the coupling diagnostics of the paper during any ``Trainer`` run.

    Args:
        sft_eval_dataset: held-out expert data in TRL's formats (``prompt`` and
            ``completion``, plain or conversational, or ``messages``); enables
            ``coupling/sft_loss`` and ``coupling/sft_nll_seq``. Its other
            columns are what the reward functions read when C1 scores the
            expert completions.
        reward_funcs: a TRL-signature reward function or a list of them, e.g.
            :func:`postcouple.rewards.trl.accuracy_reward`.
        eval_prompts: held-out prompts (``prompt`` plus the columns the reward
            functions read); with ``reward_funcs`` enables ``coupling/reward``
            and ``coupling/reward_std``.
        eval_steps: evaluate every this many optimizer steps (and at the start
            and the last step).
        num_samples: completions sampled per prompt.
        max_new_tokens: length limit of the sampled completions.
        temperature: sampling temperature.
        grad_cosine: also log ``coupling/grad_cosine``, the cosine between
            grad L_SFT (token-mean NLL of all of ``sft_eval_dataset``) and
            grad L_RL (the GRPO surrogate ``-sum(A * log pi) / tokens`` on the
            evaluation's samples, advantages ``(r - mean) / (std + 1e-4)`` per
            prompt group, unscorable samples 0) at the current parameters.
            A negative value means an SFT step lowers the reward to first
            order, and an RL step raises the SFT loss. **Cost** per
            evaluation, on top of the metrics: one forward + backward over
            the expert set and one over the ``len(eval_prompts) *
            num_samples`` samples (about 3 forwards' worth each; gradient
            checkpointing is off in eval mode, so activations of a whole
            batch are held), two float32 copies of the full gradient (8 bytes
            per trainable parameter, about 4.8 GB for a 0.6B model) and an
            all-reduce of each across ranks. Not available with DeepSpeed or
            FSDP (their gradients are sharded).
        c1_beta: a KL coefficient beta (or a list of them): at the start,
            log ``coupling/c1`` (``coupling/c1@beta=<b>`` for a list), the
            C1(beta) estimate from ``num_samples`` samples per prompt of the
            starting model and the expert completions' mean reward. Needs
            all three of ``sft_eval_dataset`` (with the reward columns),
            ``reward_funcs`` and ``eval_prompts``. It is the rise of
            ``coupling/sft_nll_seq`` predicted at the optimum of
            ``E[r] - beta * KL(pi || start)``; the log-mean-exp estimate is
            biased low with few samples (see
            :mod:`postcouple.coupling.diagnostics`).

    Attributes:
        trainer: the ``Trainer`` this callback logs through; found when
            training starts (the trainer whose callbacks hold this callback),
            or set it yourself before ``train()``.

    Example:
        >>> from postcouple.integrations.trl import CouplingCallback
        >>> cb = CouplingCallback(sft_eval_dataset=[{"prompt": "2+2=", "completion": "4"}])
        >>> cb.eval_steps
        50
    """

    def __init__(
        self,
        sft_eval_dataset: Any = None,
        reward_funcs: Callable | Sequence[Callable] | None = None,
        eval_prompts: Any = None,
        eval_steps: int = 50,
        num_samples: int = 4,
        max_new_tokens: int = 256,
        temperature: float = 1.0,
        grad_cosine: bool = False,
        c1_beta: float | Sequence[float] | None = None,
    ) -> None:
        for name, v in (
            ("eval_steps", eval_steps),
            ("num_samples", num_samples),
            ("max_new_tokens", max_new_tokens),
        ):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected an int >= 1, got {v!r}")
        if not isinstance(temperature, (int, float)) or not temperature > 0:
            raise ValueError(f"temperature: expected > 0, got {temperature!r}")
        self.eval_steps, self.num_samples = eval_steps, num_samples
        self.max_new_tokens, self.temperature = max_new_tokens, float(temperature)

        self._experts = None
        if sft_eval_dataset is not None:
            self._experts = [
                _expert(r, i) for i, r in enumerate(_rows(sft_eval_dataset, "sft_eval_dataset"))
            ]

        if reward_funcs is not None and callable(reward_funcs):
            reward_funcs = [reward_funcs]
        self._funcs: list[Callable] = []
        for i, f in enumerate(reward_funcs or []):
            if not callable(f) or isinstance(f, torch.nn.Module):
                raise TypeError(
                    f"reward_funcs[{i}]: expected a TRL-signature reward function "
                    f"(completions, **columns) -> list[float | None], got {type(f).__name__}"
                )
            self._funcs.append(f)
        self._prompts = None
        if eval_prompts is not None:
            self._prompts = _rows(eval_prompts, "eval_prompts")
            for i, r in enumerate(self._prompts):
                if "prompt" not in r:
                    raise ValueError(f"eval_prompts[{i}]: no 'prompt' column (got {sorted(r)})")
        if bool(self._funcs) != (self._prompts is not None):
            raise ValueError("reward_funcs and eval_prompts go together: give both or neither")
        if self._experts is None and self._prompts is None:
            raise ValueError(
                "nothing to measure: give sft_eval_dataset, or reward_funcs and eval_prompts"
            )

        if grad_cosine and (self._experts is None or self._prompts is None):
            raise ValueError("grad_cosine needs sft_eval_dataset, reward_funcs and eval_prompts")
        if grad_cosine and num_samples < 2:
            raise ValueError(
                "grad_cosine needs num_samples >= 2 (GRPO advantages are 0 for one sample)"
            )
        self.grad_cosine = bool(grad_cosine)
        self._betas: list[float] = []
        if c1_beta is not None:
            betas = [c1_beta] if isinstance(c1_beta, (int, float)) else list(c1_beta)
            for b in betas:
                if isinstance(b, bool) or not isinstance(b, (int, float)) or not b > 0:
                    raise ValueError(
                        f"c1_beta: expected a beta > 0 or a list of them, got {c1_beta!r}"
                    )
            if self._experts is None or self._prompts is None:
                raise ValueError("c1_beta needs sft_eval_dataset, reward_funcs and eval_prompts")
            self._betas = [float(b) for b in betas]
        self._single_beta = isinstance(c1_beta, (int, float))
        self.trainer: Trainer | None = None
        self._last_step = -1

    # -- events ----------------------------------------------------------------------

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.trainer is None:
            self.trainer = self._find_trainer()
        tr = self.trainer
        if self.grad_cosine and (
            getattr(tr, "is_deepspeed_enabled", False) or getattr(tr, "is_fsdp_enabled", False)
        ):
            raise ValueError(
                "grad_cosine: not available with DeepSpeed or FSDP (sharded gradients)"
            )
        self._encode(kwargs.get("processing_class") or tr.processing_class, tr.model, args)
        self._evaluate(args, state, c1=bool(self._betas) and state.global_step == 0)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        step = state.global_step
        if step % self.eval_steps == 0 or step == state.max_steps:
            self._evaluate(args, state, c1=False)

    # -- set-up ------------------------------------------------------------------------

    def _find_trainer(self) -> Trainer:
        # The signature of TrainerCallback events carries no trainer, so find the
        # one that is calling us: the Trainer on the stack whose callbacks hold us.
        f = sys._getframe(1)
        while f is not None:
            obj = f.f_locals.get("self")
            if isinstance(obj, Trainer) and self in obj.callback_handler.callbacks:
                return obj
            f = f.f_back
        raise RuntimeError(
            "CouplingCallback: no transformers.Trainer holding this callback was found; "
            "pass it in Trainer(callbacks=[...]) or set callback.trainer"
        )

    def _encode(self, tok: Any, model: Any, args: Any) -> None:
        if tok is None:
            raise ValueError("CouplingCallback needs the trainer's processing_class (a tokenizer)")
        t = getattr(tok, "tokenizer", tok)
        eos = t.eos_token_id
        gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        eos_ids = [] if eos is None else [eos]
        for e in [gen_eos] if isinstance(gen_eos, int) else list(gen_eos or []):
            if e not in eos_ids:
                eos_ids.append(e)
        if not eos_ids:
            raise ValueError("CouplingCallback: the tokenizer has no eos_token_id")
        self._eos = eos_ids
        self._pad = t.pad_token_id if t.pad_token_id is not None else eos_ids[0]
        self._tok = tok
        self._bs = max(1, int(getattr(args, "per_device_eval_batch_size", 8) or 8))
        if self._experts is not None:
            max_len = getattr(args, "max_length", None)
            enc = [_encode_expert(tok, e, eos_ids[0], max_len) for e in self._experts]
            self._sft_ids = [s for s, _ in enc]
            self._sft_plens = [p for _, p in enc]
        if self._prompts is not None:
            self._prompt_ids = [_encode_prompt(tok, r["prompt"]) for r in self._prompts]

    # -- evaluation ----------------------------------------------------------------------

    def _evaluate(self, args: Any, state: Any, c1: bool) -> None:
        step = state.global_step
        if step == self._last_step:
            return
        self._last_step = step
        tr = self.trainer
        model = tr.model
        was_training = model.training
        rng = _save_rng()
        params = [p for p in model.parameters() if p.requires_grad]
        grads = [p.grad for p in params]
        try:
            model.eval()
            _seed_all(args.seed, step, _rank_world()[0])
            for p in params:
                p.grad = None
            metrics = self._measure(model, state, c1, params)
        finally:
            for p, g in zip(params, grads):
                p.grad = g
            model.train(was_training)
            _restore_rng(rng)
        # the base Trainer.log: log_history + every report_to callback, without
        # flushing a subclass's own metric buffers (GRPOTrainer.log would). Its
        # on_log clears control.should_log, which would drop the trainer's own log
        # of this step: the flags are put back.
        control = tr.control
        flags = dict(vars(control))
        Trainer.log(tr, metrics)
        vars(control).update(flags)
        tr.control = control

    def _measure(self, model: Any, state: Any, c1: bool, params: list) -> dict[str, float]:
        out: dict[str, float] = {}
        g_sft = None
        if self._experts is not None:
            idx, keep = _shard(len(self._experts))
            sums, counts = _nll_sums(
                model,
                [self._sft_ids[i] for i in idx],
                [self._sft_plens[i] for i in idx],
                self._pad,
                self._bs,
                weights=[float(k) for k in keep] if self.grad_cosine else None,
            )
            part = [(i, (s, c)) for i, k, s, c in zip(idx, keep, sums, counts) if k]
            per = _merge(_gather(part), len(self._experts))
            ntok = sum(c for _, c in per)
            out["coupling/sft_loss"] = sum(s for s, _ in per) / max(ntok, 1)
            seq = [s for s, c in per if c > 0]
            out["coupling/sft_nll_seq"] = float(np.mean(seq)) if seq else float("nan")
            if self.grad_cosine:  # grad of the token-mean NLL over all ranks' examples
                g_sft = _all_reduce(_flat_grad(params)) / max(ntok, 1)
                for p in params:
                    p.grad = None
        if self._prompts is not None:
            out.update(self._rewards(model, state, c1, params, g_sft))
        return out

    def _rewards(
        self, model: Any, state: Any, c1: bool, params: list, g_sft: torch.Tensor | None
    ) -> dict[str, float]:
        n, tr = self.num_samples, self.trainer
        idx, keep = _shard(len(self._prompts))
        synced = bool(getattr(tr, "is_fsdp_enabled", False)) or _zero3(tr)
        per_func: list[np.ndarray] = []  # (b * n, F) per chunk
        samples: list[_Samples] = []
        for i in range(0, len(idx), self._bs):
            chunk = idx[i : i + self._bs]
            s = _sample(
                model,
                self._tok,
                [self._prompt_ids[j] for j in chunk],
                n,
                self.max_new_tokens,
                self.temperature,
                self._pad,
                self._eos,
                synced,
            )
            rows = [self._prompts[j] for j in chunk for _ in range(n)]
            conv = [_is_messages(r["prompt"]) for r in rows]
            comps = [
                [{"role": "assistant", "content": t}] if c else t for t, c in zip(s.texts, conv)
            ]
            comp_ids = [
                ids[m.bool()].tolist()
                for ids, m in zip(s.completion_ids.cpu(), s.completion_mask.cpu())
            ]
            per_func.append(self._score(rows, comps, comp_ids, state))
            samples.append(s)
        R = np.concatenate(per_func, 0).reshape(len(idx), n, len(self._funcs))  # (p, n, F)
        part = [(j, R[k]) for k, (j, kp) in enumerate(zip(idx, keep)) if kp]
        allR = np.stack(_merge(_gather(part), len(self._prompts)))  # (P, n, F)
        unscorable = np.isnan(allR).all(-1)  # (P, n)
        total = np.where(unscorable, np.nan, np.nansum(allR, -1))  # (P, n) TRL's summed reward
        out: dict[str, float] = {}
        flat = total[~np.isnan(total)]
        out["coupling/reward"] = float(flat.mean()) if flat.size else float("nan")
        out["coupling/reward_std"] = float(flat.std(ddof=1)) if flat.size > 1 else float("nan")
        for f, name in enumerate(_names(self._funcs)):
            v = allR[..., f]
            out[f"coupling/rewards/{name}/mean"] = (
                float(np.nanmean(v)) if (~np.isnan(v)).any() else float("nan")
            )
        if self.grad_cosine:
            out.update(self._grad_cosine(model, samples, R, keep, g_sft, params))
        if c1:
            out.update(self._c1(total, state))
        return out

    def _score(self, rows: list[dict], comps: list, comp_ids: list, state: Any) -> np.ndarray:
        """Every reward function on one batch, called as GRPOTrainer calls it: (B, F)."""
        keys = [k for k in rows[0] if k not in _NOT_EXTRA]
        kw = {k: [r.get(k) for r in rows] for k in keys}
        kw.update(trainer_state=state, log_extra=_noop, log_metric=_noop)
        prompts = [r["prompt"] for r in rows]
        out = np.full((len(rows), len(self._funcs)), np.nan)
        for f, (fn, name) in enumerate(zip(self._funcs, _names(self._funcs))):
            vals = fn(prompts=prompts, completions=comps, completion_ids=comp_ids, **kw)
            vals = list(vals)
            if len(vals) != len(rows):
                raise ValueError(
                    f"reward function {name!r} returned {len(vals)} rewards for {len(rows)} completions"
                )
            out[:, f] = [np.nan if v is None else float(v) for v in vals]
        return out

    def _grad_cosine(
        self,
        model: Any,
        samples: list[_Samples],
        R: np.ndarray,
        keep: list[bool],
        g_sft: torch.Tensor,
        params: list,
    ) -> dict[str, float]:
        n = self.num_samples
        unscorable = np.isnan(R).all(-1)  # (p, n)
        r = np.where(unscorable, np.nan, np.nansum(R, -1))  # (p, n)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-unscorable groups
            mean = np.nanmean(r, 1, keepdims=True)
            std = np.nanstd(r, 1, ddof=1, keepdims=True)
        adv = np.nan_to_num(
            (r - mean) / (np.nan_to_num(std) + 1e-4)
        )  # (p, n) GRPO, 0 if unscorable
        adv[~np.asarray(keep)] = 0.0  # padding repeats carry no weight
        dev = _device(model)
        tokens = 0.0
        k = 0
        with torch.enable_grad():
            for s in samples:
                b = len(s.texts) // n
                a = torch.tensor(adv[k : k + b].reshape(-1, 1), dtype=torch.float32, device=dev)
                rows_kept = torch.tensor(np.repeat(keep[k : k + b], n), device=dev).unsqueeze(1)
                tokens += float((s.completion_mask * rows_kept).sum())
                _logprob_backward(model, s, -a, self.temperature, self._bs)  # grad of -A log pi
                k += b
        ntok = _all_reduce(torch.tensor([tokens], dtype=torch.float64, device=dev))
        g_rl = _all_reduce(_flat_grad(params)) / max(float(ntok), 1.0)
        for p in params:
            p.grad = None
        ns, nr = float(g_sft.norm()), float(g_rl.norm())
        cos = float(g_sft @ g_rl) / (ns * nr) if ns > 0 and nr > 0 else float("nan")
        return {
            "coupling/grad_cosine": cos,
            "coupling/grad_norm_sft": ns,
            "coupling/grad_norm_rl": nr,
        }

    def _c1(self, total: np.ndarray, state: Any) -> dict[str, float]:
        """C1(beta) from the starting model's samples (summed rewards, (P, n))."""
        idx, keep = _shard(len(self._experts))
        mine_idx = [i for i, k in zip(idx, keep) if k]
        mine = [self._experts[i] for i in mine_idx]
        r = np.zeros((0,))
        if mine:
            comp_ids = [self._sft_ids[i][self._sft_plens[i] :] for i in mine_idx]
            rows = [{"prompt": e.prompt, **e.extra} for e in mine]
            R = self._score(rows, [e.completion for e in mine], comp_ids, state)
            r = np.where(np.isnan(R).all(-1), np.nan, np.nansum(R, -1))
        er = np.concatenate([np.asarray(x) for x in _gather(r)])
        expert = float(np.nanmean(er)) if (~np.isnan(er)).any() else float("nan")
        sampled = total[~np.isnan(total).any(1)]  # prompts with an unscorable sample are left out
        out: dict[str, float] = {"coupling/expert_reward": expert}
        if not sampled.size or math.isnan(expert):
            return out
        for b in self._betas:
            est = c1_from_rewards(sampled, expert, b)
            key = "coupling/c1" if self._single_beta else f"coupling/c1@beta={b:g}"
            out[key] = est["c1"]
            out[key + "_se"] = est["c1_se"]
        return out


def _names(funcs: list[Callable]) -> list[str]:
    return [getattr(f, "__name__", type(f).__name__) for f in funcs]


def _zero3(tr: Any) -> bool:
    try:
        from transformers.integrations import is_deepspeed_zero3_enabled
    except ImportError:
        return False
    return bool(getattr(tr, "is_deepspeed_enabled", False)) and is_deepspeed_zero3_enabled()
