"""Models and tokenizers: one code path for Qwen3-0.6B on a GPU and a tiny model on a CPU.

``load_model_and_tokenizer(name)`` accepts

- ``"tiny"`` — a Qwen3-architecture model (``Qwen3Config`` with small sizes,
  random init) and a character-level tokenizer built in memory as a
  ``PreTrainedTokenizerFast``: no hub, no files, seconds to train on a CPU;
- ``"qwen3-0.6b-arch"`` — the Qwen3-0.6B architecture with random init and the
  character-level tokenizer (for GPU throughput checks where no weights can be
  downloaded; it must be SFT-trained before RL means anything);
- any other string — ``AutoModelForCausalLM.from_pretrained(name)`` and its
  ``AutoTokenizer`` (a hub id such as ``"Qwen/Qwen3-0.6B"`` or a local path).

Example:
    >>> from postcouple.models import load_model_and_tokenizer
    >>> model, tok = load_model_and_tokenizer("tiny", seed=0)
    >>> tok.decode(tok("12+3=")["input_ids"])
    '12+3='
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

#: Printable ASCII plus newline and tab: enough for arithmetic, GSM8K, MATH and
#: CoLA text; anything else maps to ``<unk>``.
CHARS = "".join(chr(c) for c in range(32, 127)) + "\n\t"
SPECIAL = ("<pad>", "<eos>", "<unk>")


def char_tokenizer(max_length: int = 4096) -> Any:
    """A character-level ``PreTrainedTokenizerFast`` (one token per character).

    Built from a BPE model with no merges, so every character is its own token
    and decoding is exact for the characters in :data:`CHARS`.
    """
    from tokenizers import Tokenizer, decoders
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIAL)}
    for ch in CHARS:
        vocab.setdefault(ch, len(vocab))
    core = Tokenizer(BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    core.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        eos_token="<eos>",
        unk_token="<unk>",
        model_max_length=max_length,
    )
    tok.padding_side = "left"  # generation pads prompts on the left
    return tok


@dataclass(frozen=True)
class TinySize:
    """Sizes of the ``tiny`` model (about 0.1M parameters with the char vocab)."""

    hidden_size: int = 64
    intermediate_size: int = 192
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 16
    max_position_embeddings: int = 512


def _qwen3_config(tok: Any, **sizes: Any) -> Any:
    from transformers import Qwen3Config

    return Qwen3Config(
        vocab_size=len(tok),
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
        # transformers >= 5 folds the legacy rope_theta kwarg into rope_parameters
        # (same config); 4.x only knows rope_theta, so this spelling serves both.
        rope_theta=10000.0,  # type: ignore[call-arg]
        attention_dropout=0.0,
        **sizes,
    )


#: Qwen3-0.6B's architecture (config.json of Qwen/Qwen3-0.6B) minus its vocab.
QWEN3_06B = dict(
    hidden_size=1024,
    intermediate_size=3072,
    num_hidden_layers=28,
    num_attention_heads=16,
    num_key_value_heads=8,
    head_dim=128,
    max_position_embeddings=40960,
    rms_norm_eps=1e-6,
)


def load_model_and_tokenizer(
    name: str = "tiny",
    *,
    seed: int = 0,
    dtype: torch.dtype | None = None,
    device: str | torch.device = "cpu",
    tiny: TinySize | None = None,
    attn_implementation: str | None = None,
) -> tuple[Any, Any]:
    """Build or load a causal LM and its tokenizer.

    Args:
        name: ``"tiny"``, ``"qwen3-0.6b-arch"``, or a hub id / local path.
        seed: seeds the random init of built models (ignored for loaded weights).
        dtype: parameter dtype (default float32; bf16 is for GPUs).
        device: where the model goes.
        tiny: sizes for ``"tiny"``.
        attn_implementation: passed to transformers (``"sdpa_varlen"``,
            ``"sdpa"``, ``"eager"``, ``"flash_attention_2"``); default
            ``"sdpa_varlen"``: HF's sdpa, except that packed rows attend per
            sequence (:mod:`postcouple.attention`).

    Returns:
        ``(model, tokenizer)``, the model in train mode.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"model: expected a non-empty name or path, got {name!r}")
    attn = attn_implementation or "sdpa_varlen"
    if attn == "sdpa_varlen":
        from postcouple.attention import register

        register()
    # Any, as returned: transformers types PreTrainedModel.to() through a decorator
    # that mypy cannot bind, and the two branches build different classes.
    model: Any
    if name in ("tiny", "qwen3-0.6b-arch"):
        from transformers import Qwen3ForCausalLM

        tok = char_tokenizer()
        sizes = vars(tiny or TinySize()) if name == "tiny" else dict(QWEN3_06B)
        cfg = _qwen3_config(tok, **sizes)
        cfg._attn_implementation = attn
        gen = torch.random.fork_rng(devices=[])
        with gen:
            torch.manual_seed(seed)
            model = Qwen3ForCausalLM(cfg)
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(name)
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        tok.padding_side = "left"
        model = AutoModelForCausalLM.from_pretrained(
            name, dtype=dtype or torch.float32, attn_implementation=attn
        )
    if dtype is not None:
        model = model.to(dtype)
    model.to(device)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.train()
    return model, tok


def num_parameters(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())
