"""Text to token ids, and the order in which training examples are drawn.

Example:
    >>> from postcouple.train.data import EpochSampler
    >>> s = EpochSampler(4, seed=0)
    >>> sorted(s.take(4)), s.state()
    ([0, 1, 2, 3], {'epoch': 0, 'pos': 4})
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from postcouple.tasks.base import Example

# -- text -> ids ---------------------------------------------------------------


def render_prompt(tok: Any, prompt: str) -> str:
    """The prompt as the model sees it: through the chat template when there is one."""
    if getattr(tok, "chat_template", None):
        return tok.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
        )
    return prompt


def encode_prompts(tok: Any, prompts: Sequence[str]) -> list[list[int]]:
    """Token ids of each rendered prompt (no special tokens added)."""
    texts = [render_prompt(tok, p) for p in prompts]
    return [tok(t, add_special_tokens=False)["input_ids"] for t in texts]


def encode_examples(
    tok: Any, examples: Sequence[Example], max_length: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """``prompt + response + eos`` token ids per example, and each prompt's length.

    Over ``max_length`` the response is cut (the prompt is kept whole, up to
    ``max_length - 1`` tokens).
    """
    prompts = encode_prompts(tok, [e.prompt for e in examples])
    seqs, plens = [], []
    for e, p in zip(examples, prompts):
        r = tok(e.response, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        p = p[: max_length - 1]
        ids = (p + r)[:max_length]
        seqs.append(np.asarray(ids, dtype=np.int64))
        plens.append(len(p))
    return seqs, np.asarray(plens, dtype=np.int64)


def pad_right(
    seqs: Sequence[np.ndarray], plens: np.ndarray, pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ``input_ids`` (B, T), ``attention_mask`` (B, T) and ``labels`` (B, T)
    (-100 on prompt and padding; unshifted, as HF expects)."""
    B, T = len(seqs), max(len(s) for s in seqs)
    ids = np.full((B, T), pad_id, dtype=np.int64)
    att = np.zeros((B, T), dtype=np.int64)
    lab = np.full((B, T), -100, dtype=np.int64)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
        att[i, : len(s)] = 1
        lab[i, plens[i] : len(s)] = s[plens[i] :]
    return (
        torch.from_numpy(ids).to(device),
        torch.from_numpy(att).to(device),
        torch.from_numpy(lab).to(device),
    )


# -- data order ----------------------------------------------------------------


class EpochSampler:
    """Indices in a fresh permutation per epoch, derived from (seed, epoch).

    Its whole state is ``(epoch, pos)``, so a resumed run continues exactly.
    """

    def __init__(self, n: int, seed: int, epoch: int = 0, pos: int = 0) -> None:
        if n <= 0:
            raise ValueError("sampler: the dataset is empty")
        self.n, self.seed, self.epoch, self.pos = n, seed, epoch, pos
        self._perm = self._make()

    def _make(self) -> np.ndarray:
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.n)

    def take(self, k: int) -> list[int]:
        """The next ``k`` indices (crossing into a new epoch's permutation as needed)."""
        out: list[int] = []
        while len(out) < k:
            if self.pos >= self.n:
                self.epoch, self.pos = self.epoch + 1, 0
                self._perm = self._make()
            j = min(self.n, self.pos + k - len(out))
            out += self._perm[self.pos : j].tolist()
            self.pos = j
        return out

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pos": self.pos}
