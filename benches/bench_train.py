"""SFT step throughput: packed padding-free micro-batches vs right padding.

The tiny Qwen3-architecture model (CPU, one torch thread), a step of 32 real
GSM8K examples (char tokenizer: 150–900 tokens each, so padding wastes a lot),
micro-batches of at most 4,096 (or 1,024) tokens, forward and backward. Both variants give
the same loss (tests/test_train.py checks that); this measures the time. The
extra_info of each bench holds tokens/s and the padded-token fraction.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchutil import full

torch = pytest.importorskip("torch")

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k"


@pytest.fixture(scope="module")
def setup():
    if not DATA.exists():
        pytest.skip("../shared/data/gsm8k is absent")
    from postcouple.models import load_model_and_tokenizer
    from postcouple.tasks.data import Gsm8kTask

    torch.manual_seed(0)
    model, tok = load_model_and_tokenizer("tiny")
    n = 32 if full() else 4
    ex = Gsm8kTask(path=str(DATA), num_train=n, num_eval=1).train_examples()
    return model, tok, ex


@pytest.mark.benchmark(group="train-sft-packing")
@pytest.mark.parametrize(
    "packing, capacity",
    [(True, 4096), (True, 1024), (False, 4096)],
    ids=["packed-4096", "packed-1024", "padded-4096"],
)
def test_sft_step(benchmark, setup, packing, capacity):
    from postcouple.train.sft import micro_batches, sft_loss_backward

    model, tok, ex = setup
    dev = torch.device("cpu")

    def step():
        model.zero_grad(set_to_none=True)
        mbs = micro_batches(
            tok, ex, packing=packing, capacity=capacity, max_length=1024, device=dev
        )
        loss, ntok = sft_loss_backward(model, mbs)
        return mbs, loss, ntok

    mbs, loss, ntok = benchmark.pedantic(step, rounds=3 if full() else 1, iterations=1)
    slots = sum(mb["input_ids"].numel() for mb in mbs)
    real = sum(
        int((mb.get("attention_mask", torch.ones_like(mb["input_ids"])) > 0).sum()) for mb in mbs
    )
    benchmark.extra_info["micro_batches"] = len(mbs)
    benchmark.extra_info["pad_fraction"] = 1 - real / slots
    if benchmark.stats:
        benchmark.extra_info["tokens_per_s"] = real / benchmark.stats.stats.median
    assert loss > 0 and ntok > 0
