"""SFT and RL step throughput of a model, for GPUs (the README's H100/H200 figure).

    python benches/gpu_throughput.py                       # Qwen3-0.6B architecture, random init
    python benches/gpu_throughput.py --model Qwen/Qwen3-0.6B --json out.json

Runs ``--sft-steps`` SFT steps on ``--batch`` sequences of ``--seq`` tokens and
``--rl-steps`` GRPO steps (``--num-prompts`` x ``--num-generations`` samples of
``--max-new-tokens``) through postcouple's own stage code (the same functions
``postcouple train`` calls), after one warm-up step each, and reports tokens/s,
model FLOPs utilisation and peak memory. bf16 on CUDA, float32 elsewhere.

MFU = 6 · N · tokens / time / peak, with N the non-embedding parameters (the
usual approximation: attention FLOPs and the embedding are left out) and peak
the dense bf16 tensor peak of the GPU (H100/H200 SXM: 989 TFLOP/s; A100: 312).
For RL, only the training tokens count (generation is reported as its own
tokens/s). On a CPU the script runs (tests/test_gpu_throughput_script.py uses
the tiny model) and reports MFU as null.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12}


def _peak(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="qwen3-0.6b-arch")
    p.add_argument("--device", default="auto")
    p.add_argument("--sft-steps", type=int, default=5)
    p.add_argument("--rl-steps", type=int, default=3)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq", type=int, default=512)
    p.add_argument("--num-prompts", type=int, default=8)
    p.add_argument("--num-generations", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument(
        "--attn", default=None, help="attn_implementation (default: postcouple's, sdpa_varlen)"
    )
    p.add_argument("--json", help="also write the result here")
    a = p.parse_args(argv)

    from postcouple.models import load_model_and_tokenizer
    from postcouple.tasks.arith import ArithTask
    from postcouple.tasks.base import Example
    from postcouple.train.config import RLConfig
    from postcouple.train.rl import rl_step
    from postcouple.train.sft import micro_batches, sft_loss_backward

    dev = torch.device(
        a.device if a.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    torch.manual_seed(0)
    model, tok = load_model_and_tokenizer(
        a.model, dtype=dtype, device=dev, attn_implementation=a.attn
    )
    n_all = sum(p.numel() for p in model.parameters())
    n_emb = model.get_input_embeddings().weight.numel()
    n = n_all - n_emb
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)

    # -- SFT: fixed-length synthetic sequences (half prompt, half response) ----------
    half = max(1, a.seq // 2)
    ex = [Example("1" * half, "2" * (a.seq - half), "") for _ in range(a.batch)]

    def sft_once() -> int:
        mbs = micro_batches(
            tok, ex, packing=False, capacity=a.batch * a.seq, max_length=a.seq + 8, device=dev
        )
        _, ntok = sft_loss_backward(model, mbs)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return sum(int(mb["input_ids"].numel()) for mb in mbs)

    sft_once()  # warm-up
    sync()
    t = time.perf_counter()
    toks = sum(sft_once() for _ in range(a.sft_steps))
    sync()
    sft_dt = time.perf_counter() - t

    # -- RL: GRPO steps on arithmetic prompts -------------------------------------------
    task = ArithTask()
    cfg = RLConfig(
        num_prompts=a.num_prompts,
        num_generations=a.num_generations,
        max_new_tokens=a.max_new_tokens,
    )

    def opt_step() -> None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    prompts = task.train_examples()[: a.num_prompts]
    ac = torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" else None
    rl_step(model, None, tok, task, prompts, cfg, opt_step, ac)  # warm-up
    gen_t = train_t = 0.0
    gen_tok = train_tok = 0
    for _ in range(a.rl_steps):
        sync()
        st = rl_step(model, None, tok, task, prompts, cfg, opt_step, ac)
        sync()
        gen_t += st["time_generate"]
        train_t += st["time_train"]
        gen_tok += int(st["tokens"])
        train_tok += (
            int(st["tokens"]) + a.num_prompts * a.num_generations * 8
        )  # + prompt tokens (approx.)
    peak = _peak(dev)
    out = {
        "model": a.model,
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "dtype": str(dtype).replace("torch.", ""),
        "params": n_all,
        "params_non_embedding": n,
        "sft_tokens_per_s": toks / sft_dt,
        "sft_mfu": (6 * n * toks / sft_dt / peak) if peak else None,
        "rl_generate_tokens_per_s": gen_tok / gen_t if gen_t > 0 else None,
        "rl_train_tokens_per_s": train_tok / train_t if train_t > 0 else None,
        "rl_train_mfu": (6 * n * train_tok / train_t / peak) if (peak and train_t > 0) else None,
        "peak_memory_gib": torch.cuda.max_memory_allocated(dev) / 2**30
        if dev.type == "cuda"
        else None,
    }
    print(json.dumps(out, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
