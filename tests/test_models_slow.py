"""The full Qwen3-0.6B architecture (random init, char tokenizer) on the CPU:
SFT steps lower the loss on a fixed batch and sampling runs. Slow (a few
minutes, ~6 GB): ``pytest --runslow tests/test_models_slow.py``."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")


@pytest.mark.slow
def test_qwen3_06b_architecture_trains_and_samples_on_cpu():
    from postcouple.models import load_model_and_tokenizer, num_parameters
    from postcouple.tasks.base import Example
    from postcouple.train.sampling import sample
    from postcouple.train.sft import micro_batches, sft_loss_backward

    torch.manual_seed(0)
    model, tok = load_model_and_tokenizer("qwen3-0.6b-arch")
    cfg = model.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (1024, 28, 16)
    assert num_parameters(model) > 400e6
    # sequences of 128 tokens (char tokenizer): 64-char prompt, 63-char response + eos
    pairs = [(1, 2), (30, 4), (5, 67), (8, 9)]
    ex = [Example(f"{a}+{b}=".rjust(64, "0"), f"{a + b}".rjust(63, "0"), "") for a, b in pairs]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    losses = []
    for _ in range(3):
        opt.zero_grad(set_to_none=True)
        mbs = micro_batches(
            tok, ex, packing=False, capacity=4096, max_length=128, device=torch.device("cpu")
        )
        loss, _ = sft_loss_backward(model, mbs)
        assert math.isfinite(loss)
        opt.step()
        losses.append(loss)
    assert losses[-1] < losses[0]
    model.eval()
    with torch.no_grad():
        ro = sample(model, tok, ["1+2=", "30+4="], num_generations=2, max_new_tokens=4)
    assert len(ro.completions) == 4
