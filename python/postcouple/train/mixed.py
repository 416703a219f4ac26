"""Pieces the SFT+RL methods share (chord, luffy, hpt, relift, uft), and their dispatch.

- expert solutions: :func:`expert_solutions` asks the task (``task.expert_solutions``:
  arith samples its expert distribution, GSM8K / MATH give the reference
  solution, CoLA the formatted label); tasks without the method fall back on
  the example's SFT response;
- per-token weights and the shaped losses: :func:`phi_weights` (CHORD's
  p (1 - p)), :func:`weighted_nll_backward`, :func:`shaped_expert_loss`
  (LUFFY's f(p) = p / (p + gamma));
- expert completions as a :class:`~postcouple.train.sampling.Rollout`
  (:func:`expert_rollout`), so they go through the same log-prob code as
  samples;
- per-prompt correctness (:func:`num_correct`, :class:`RecordingTask`);
- the state a method keeps across steps (:class:`MethodState`: the cumulative
  ``expert_tokens`` and ReLIFT's buffer; saved in every checkpoint);
- :func:`method_step`: what the engine calls for the kinds in
  :data:`postcouple.train.schedule.METHOD_KINDS`.

Example:
    >>> import torch
    >>> from postcouple.train.mixed import phi_weights
    >>> [round(w, 4) for w in phi_weights(torch.log(torch.tensor([0.5, 0.9]))).tolist()]
    [0.25, 0.09]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from postcouple.tasks.base import Example
from postcouple.train.data import encode_examples, encode_prompts
from postcouple.train.logprobs import batch_nll
from postcouple.train.sampling import Rollout

# -- expert solutions ---------------------------------------------------------


def method_rng(seed: int, step: int, kind: str) -> np.random.Generator:
    """The generator a method draws expert solutions / hint lengths from at a
    global step: a function of (seed, step, kind) only, so a resumed run draws
    the same as an uninterrupted one without saving any generator state."""
    return np.random.default_rng([seed, step, sum(map(ord, kind))])


def expert_solutions(task: Any, examples: Sequence[Example], rng: np.random.Generator) -> list[str]:
    """One expert solution per example, from the task (see the module docstring)."""
    f = getattr(task, "expert_solutions", None)
    if f is not None:
        out = list(f(list(examples), rng))
    else:
        one = getattr(task, "expert_solution", None)
        out = [one(e, rng) if one is not None else e.response for e in examples]
    if len(out) != len(examples) or not all(isinstance(s, str) for s in out):
        raise TypeError("task.expert_solutions: expected one string per example")
    return out


def expert_examples(
    task: Any, examples: Sequence[Example], rng: np.random.Generator
) -> list[Example]:
    """``examples`` with each response replaced by a fresh expert solution."""
    sols = expert_solutions(task, examples, rng)
    return [replace(e, response=s) for e, s in zip(examples, sols)]


def target_tokens(tok: Any, examples: Sequence[Example], max_length: int) -> int:
    """The SFT target tokens (response + eos, after truncation) of ``examples``:
    what an SFT step on them consumes, as ``expert_tokens`` counts it."""
    seqs, plens = encode_examples(tok, examples, max_length)
    return int(sum(len(s) - int(p) for s, p in zip(seqs, plens)))


# -- per-token weights and shaped losses -------------------------------------------


def phi_weights(logp: torch.Tensor) -> torch.Tensor:
    """CHORD's per-token weight phi(p) = p (1 - p) of log-probs ``logp``, detached
    (arXiv 2508.11408, CHORD-phi; sg: the stop-gradient). Any shape."""
    p = logp.detach().exp()
    return p * (1.0 - p)


def weighted_nll_backward(
    model: Any,
    mbs: Sequence[dict[str, torch.Tensor]],
    weight: Callable[[torch.Tensor], torch.Tensor],
    *,
    scale: float = 1.0,
    autocast: Any = None,
) -> tuple[float, float, int]:
    """Backward of ``scale`` x ``-sum_t w_t log p_t / N`` over all micro-batches, with
    ``w_t = weight(log p_t)`` (must be detached) and N the step's target-token
    count (the same normaliser as the plain SFT loss, so ``weight = 1`` is SFT).

    Returns ``(plain mean NLL, weighted loss, N)``: the plain NLL is what the
    run reports as the SFT training loss, whatever the weighting.
    """
    ntok = sum(int((mb["labels"][:, 1:] != -100).sum()) for mb in mbs)
    plain = shaped = 0.0
    for mb in mbs:
        with autocast or torch.autocast("cpu", enabled=False):
            nll, mask = batch_nll(model, mb)  # (b, T-1), 0 off the targets
        w = weight(-nll) * mask  # (b, T-1)
        loss = (w * nll).sum() / max(ntok, 1)
        (loss * scale).backward()
        plain += float(nll.detach().sum())
        shaped += float(loss.detach())
    return plain / max(ntok, 1), shaped, ntok


def shaped_expert_loss(logp: torch.Tensor, adv: torch.Tensor, gamma: float) -> torch.Tensor:
    """LUFFY's per-token loss on expert tokens, ``-A f(pi(y*_t))`` with
    ``f(p) = p / (p + gamma)`` (arXiv 2504.14945, policy shaping, with behaviour
    probability 1, no clipping). ``logp`` (B, T), ``adv`` broadcastable.

    Its gradient is ``-A gamma p / (p + gamma)^2 grad log p``: low-probability
    expert tokens keep a large weight (1/gamma as p -> 0) instead of the
    vanishing p of the plain importance ratio.
    """
    p = logp.exp()
    return -adv * p / (p + gamma)


# -- expert completions as a rollout ------------------------------------------------


def expert_rollout(
    tok: Any, prompts: Sequence[str], solutions: Sequence[str], device: Any
) -> Rollout:
    """Prompts (left-padded, rendered as :func:`~postcouple.train.sampling.sample`
    renders them) followed by the expert solutions and eos (right-padded): the
    layout of a sampled rollout, so ``sequence_logprobs`` reads it unchanged."""
    enc = encode_prompts(tok, prompts)
    sol = [tok(s, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for s in solutions]
    P, C, B = max(len(e) for e in enc), max(len(s) for s in sol), len(enc)
    ids = torch.full((B, P + C), tok.pad_token_id, dtype=torch.long)
    att = torch.zeros((B, P + C), dtype=torch.long)
    for i, (e, s) in enumerate(zip(enc, sol)):
        ids[i, P - len(e) : P] = torch.tensor(e)
        att[i, P - len(e) : P] = 1
        ids[i, P : P + len(s)] = torch.tensor(s)
        att[i, P : P + len(s)] = 1
    rmask = att[:, P:].clone()  # (B, C)
    return Rollout(
        ids.to(device), att.to(device), rmask.to(device), P, list(solutions), int(rmask.sum())
    )


# -- correctness per prompt -------------------------------------------------------


def num_correct(task_rewards: np.ndarray, group_size: int) -> np.ndarray:
    """Correct samples per prompt, (n,) int: a sample is correct when the task's
    verifier gives it more than 0.5 (the built-in verifiers give 1 or 0; NaN,
    an unparseable gold, is not correct)."""
    r = np.asarray(task_rewards, dtype=np.float64).reshape(-1, group_size)
    return (np.nan_to_num(r, nan=0.0) > 0.5).sum(1)


class RecordingTask:
    """A task that remembers the rewards of its last ``reward`` call (the task's
    own verifier, before extra reward functions), so a method can reuse
    ``rl_step`` unchanged and still see per-sample correctness."""

    def __init__(self, task: Any) -> None:
        self._task = task
        self.last: np.ndarray | None = None

    def reward(self, completions: list[str], examples: list[Example]) -> np.ndarray:
        self.last = np.asarray(self._task.reward(completions, examples), dtype=np.float32)
        return self.last

    def rewards(self) -> np.ndarray:
        """The task rewards (B,) of the last ``reward`` call."""
        if self.last is None:
            raise RuntimeError("RecordingTask.rewards: no reward call yet")
        return self.last

    def __getattr__(self, name: str) -> Any:
        return getattr(self._task, name)


# -- state kept across steps --------------------------------------------------------


@dataclass
class MethodState:
    """What the methods carry from step to step; JSON-able (checkpoint ``state.json``)."""

    expert_tokens: int = 0  # cumulative expert (SFT-target / hint / expert-rollout) tokens
    relift_buffer: list[Example] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "expert_tokens": self.expert_tokens,
            "relift_buffer": [[e.prompt, e.response, e.answer] for e in self.relift_buffer],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> MethodState:
        d = d or {}
        buf = [Example(p, r, a) for p, r, a in d.get("relift_buffer", [])]
        return cls(int(d.get("expert_tokens", 0)), buf)


@dataclass
class StepInputs:
    """Everything a method's step needs besides its data (built by the engine)."""

    model: Any
    ref_model: Any
    tok: Any
    task: Any
    cfg: Any  # the RunConfig
    opt_step: Callable[[], None]
    device: Any
    autocast: Any
    reward_funcs: Sequence[Callable]
    progress: tuple[int, int]  # (steps of this kind done before this one, total of this kind)
    rng: np.random.Generator
    state: MethodState


def schedule_progress(stages: Sequence[Any], stage_index: int, stage_step: int) -> tuple[int, int]:
    """``(t, T)`` for the stage ``stages[stage_index]`` at its step ``stage_step``:
    t counts the steps of the same kind before this one over the whole schedule
    (so ``alt(sft:5,chord:5)x4`` runs one mu / hint schedule over 20 chord
    steps, not four of 5), T all steps of that kind."""
    kind = stages[stage_index].kind
    t = sum(s.steps for s in stages[:stage_index] if s.kind == kind) + stage_step
    return t, sum(s.steps for s in stages if s.kind == kind)


def method_step(
    kind: str, x: StepInputs, prompts: list[Example], sft_batch: list[Example]
) -> dict[str, float]:
    """One step of method ``kind``; adds the step's expert tokens to ``x.state``
    and reports the cumulative count as ``expert_tokens``."""
    if kind == "chord":
        from postcouple.train.chord import chord_step

        st = chord_step(x, prompts, sft_batch)
    elif kind == "luffy":
        from postcouple.train.luffy import luffy_step

        st = luffy_step(x, prompts)
    elif kind == "hpt":
        from postcouple.train.hpt import hpt_step

        st = hpt_step(x, prompts)
    elif kind == "relift":
        from postcouple.train.relift import relift_step

        st = relift_step(x, prompts)
    elif kind == "uft":
        from postcouple.train.uft import uft_step

        st = uft_step(x, prompts)
    else:
        raise ValueError(f"method_step: unknown kind {kind!r}")
    x.state.expert_tokens += int(st.pop("expert_tokens_step"))
    st["expert_tokens"] = x.state.expert_tokens
    return st
