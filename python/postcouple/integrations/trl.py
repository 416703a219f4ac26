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
  metric buffers (GRPO's running means) are left alone. A value that cannot
  be computed at a step (no scorable sample; grad_cosine when every reward of
  the probe is equal, so grad L_RL = 0) is left out of that step's log.

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
import sys
import warnings
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

import numpy as np
import torch
from transformers import Trainer, TrainerCallback

from postcouple.coupling.diagnostics import c1_from_rewards, cosine_and_norms
from postcouple.integrations._hf import (
    NOT_EXTRA,
    Expert,
    Samples,
    all_reduce,
    as_rows,
    encode_expert,
    encode_prompt,
    flat_grad,
    gather,
    is_messages,
    logprob_backward,
    merge,
    model_device,
    nll_sums,
    noop,
    parse_expert,
    rank_world,
    restore_rng,
    sample,
    save_rng,
    seed_all,
    shard,
)

__all__ = ["CouplingCallback"]


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
            prompt group, unscorable samples 0) at the current trainable
            parameters (with PEFT: the adapter's).
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

        self._experts: list[Expert] | None = None
        if sft_eval_dataset is not None:
            self._experts = [
                parse_expert(r, i)
                for i, r in enumerate(as_rows(sft_eval_dataset, "sft_eval_dataset"))
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
        self._prompts: list[dict] | None = None
        if eval_prompts is not None:
            self._prompts = as_rows(eval_prompts, "eval_prompts")
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
        f: FrameType | None = sys._getframe(1)
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
            enc = [encode_expert(tok, e, eos_ids[0], max_len) for e in self._experts]
            self._sft_ids = [s for s, _ in enc]
            self._sft_plens = [p for _, p in enc]
        if self._prompts is not None:
            self._prompt_ids = [encode_prompt(tok, r["prompt"]) for r in self._prompts]

    # -- evaluation ----------------------------------------------------------------------

    def _evaluate(self, args: Any, state: Any, c1: bool) -> None:
        step = state.global_step
        if step == self._last_step:
            return
        self._last_step = step
        tr = self.trainer
        if tr is None or tr.model is None:  # on_train_begin sets both
            raise RuntimeError("CouplingCallback: evaluation before on_train_begin found a model")
        model = tr.model
        was_training = model.training
        rng = save_rng()
        params = [p for p in model.parameters() if p.requires_grad]
        grads = [p.grad for p in params]
        try:
            model.eval()
            seed_all(args.seed, step, rank_world()[0])
            for p in params:
                p.grad = None
            metrics = self._measure(model, state, c1, params)
            # a value that cannot be computed (no scorable sample, all rewards of
            # the probe equal) is left out rather than logged as NaN, which JSON
            # loggers reject
            metrics = {k: v for k, v in metrics.items() if not math.isnan(v)}
        finally:
            for p, g in zip(params, grads):
                p.grad = g
            model.train(was_training)
            restore_rng(rng)
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
            idx, keep = shard(len(self._experts))
            sums, counts = nll_sums(
                model,
                [self._sft_ids[i] for i in idx],
                [self._sft_plens[i] for i in idx],
                self._pad,
                self._bs,
                weights=[float(k) for k in keep] if self.grad_cosine else None,
            )
            part = [(i, (s, c)) for i, k, s, c in zip(idx, keep, sums, counts) if k]
            per = merge(gather(part), len(self._experts))
            ntok = sum(c for _, c in per)
            out["coupling/sft_loss"] = sum(s for s, _ in per) / max(ntok, 1)
            seq = [s for s, c in per if c > 0]
            out["coupling/sft_nll_seq"] = float(np.mean(seq)) if seq else float("nan")
            if self.grad_cosine:  # grad of the token-mean NLL over all ranks' examples
                g_sft = all_reduce(flat_grad(params)) / max(ntok, 1)
                for p in params:
                    p.grad = None
        if self._prompts is not None:
            out.update(self._rewards(model, state, c1, params, g_sft))
        return out

    def _rewards(
        self, model: Any, state: Any, c1: bool, params: list, g_sft: torch.Tensor | None
    ) -> dict[str, float]:
        n, tr = self.num_samples, self.trainer
        prompts = self._prompts
        assert prompts is not None  # only called when eval_prompts was given
        idx, keep = shard(len(prompts))
        synced = bool(getattr(tr, "is_fsdp_enabled", False)) or _zero3(tr)
        per_func: list[np.ndarray] = []  # (b * n, F) per chunk
        samples: list[Samples] = []
        for i in range(0, len(idx), self._bs):
            chunk = idx[i : i + self._bs]
            s = sample(
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
            rows = [prompts[j] for j in chunk for _ in range(n)]
            conv = [is_messages(r["prompt"]) for r in rows]
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
        allR = np.stack(merge(gather(part), len(prompts)))  # (P, n, F)
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
            assert g_sft is not None  # grad_cosine requires sft_eval_dataset (__init__)
            out.update(self._grad_cosine(model, samples, R, keep, g_sft, params))
        if c1:
            out.update(self._c1(total, state))
        return out

    def _score(self, rows: list[dict], comps: list, comp_ids: list, state: Any) -> np.ndarray:
        """Every reward function on one batch, called as GRPOTrainer calls it: (B, F)."""
        keys = [k for k in rows[0] if k not in NOT_EXTRA]
        kw: dict[str, Any] = {k: [r.get(k) for r in rows] for k in keys}
        kw.update(trainer_state=state, log_extra=noop, log_metric=noop)
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
        samples: list[Samples],
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
        dev = model_device(model)
        tokens = 0.0
        k = 0
        with torch.enable_grad():
            for s in samples:
                b = len(s.texts) // n
                a = torch.tensor(adv[k : k + b].reshape(-1, 1), dtype=torch.float32, device=dev)
                rows_kept = torch.tensor(np.repeat(keep[k : k + b], n), device=dev).unsqueeze(1)
                tokens += float((s.completion_mask * rows_kept).sum())
                logprob_backward(model, s, -a, self.temperature, self._bs)  # grad of -A log pi
                k += b
        ntok = all_reduce(torch.tensor([tokens], dtype=torch.float64, device=dev))
        g_rl = all_reduce(flat_grad(params)) / max(float(ntok), 1.0)
        for p in params:
            p.grad = None
        names = ("coupling/grad_cosine", "coupling/grad_norm_sft", "coupling/grad_norm_rl")
        return dict(zip(names, cosine_and_norms(g_sft, g_rl)))

    def _c1(self, total: np.ndarray, state: Any) -> dict[str, float]:
        """C1(beta) from the starting model's samples (summed rewards, (P, n))."""
        experts = self._experts
        assert experts is not None  # c1_beta requires sft_eval_dataset (__init__)
        idx, keep = shard(len(experts))
        mine_idx = [i for i, k in zip(idx, keep) if k]
        mine = [experts[i] for i in mine_idx]
        r = np.zeros((0,))
        if mine:
            comp_ids = [self._sft_ids[i][self._sft_plens[i] :] for i in mine_idx]
            rows = [{"prompt": e.prompt, **e.extra} for e in mine]
            R = self._score(rows, [e.completion for e in mine], comp_ids, state)
            r = np.where(np.isnan(R).all(-1), np.nan, np.nansum(R, -1))
        er = np.concatenate([np.asarray(x) for x in gather(r)])
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
