"""Measure SFT/RL coupling in a plain TRL run: SFTTrainer, then GRPOTrainer, with
postcouple's CouplingCallback logging what the paper (arXiv 2601.07389) predicts.

- During SFT the callback logs ``coupling/reward`` (samples of held-out prompts
  scored by the RL reward): does imitation raise or lower the reward?
- During GRPO it logs ``coupling/sft_loss`` / ``coupling/sft_nll_seq`` (the
  held-out expert NLL), ``coupling/grad_cosine`` and, at the start,
  ``coupling/c1`` (the predicted rise of the SFT loss at the RL optimum).

As written it runs on a CPU in about a minute: the tiny Qwen3-architecture model
built in memory (no download) on synthetic ``a+b=`` sums. On a GPU, with the
real model and GSM8K (a JSONL of ``question`` / ``answer``, e.g. the
``openai/gsm8k`` test split)::

    python examples/trl_grpo_with_coupling.py --model Qwen/Qwen3-0.6B \\
        --gsm8k gsm8k/test.jsonl --sft-steps 0 --grpo-steps 200 --eval-steps 20 \\
        --max-new-tokens 512 --bf16

Real models get conversational prompts through their own chat template; the
tiny model has no chat template and gets plain prompts.

Example:
    python examples/trl_grpo_with_coupling.py            # tiny model, CPU
"""

from __future__ import annotations

import argparse
import json
import random

import torch
from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer

from postcouple.integrations.trl import CouplingCallback
from postcouple.models import load_model_and_tokenizer
from postcouple.rewards.trl import accuracy_reward


def sums(n: int, seed: int) -> list[dict]:
    """``a+b=`` with the answer in GSM8K's ``#### N`` form (accuracy_reward reads it)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.randrange(10), rng.randrange(10)
        rows.append({"prompt": f"{a}+{b}=", "completion": f"#### {a + b}", "solution": str(a + b)})
    return rows


def gsm8k(path: str) -> list[dict]:
    rows = []
    with open(path) as f:
        for line in f:
            ex = json.loads(line)
            gold = ex["answer"].split("####")[-1].strip().replace(",", "")
            rows.append({"prompt": ex["question"], "completion": ex["answer"], "solution": gold})
    return rows


def conversational(rows: list[dict]) -> list[dict]:
    """TRL's conversational prompt/completion format (chat template applied by TRL)."""
    return [
        {
            "prompt": [{"role": "user", "content": r["prompt"]}],
            "completion": [{"role": "assistant", "content": r["completion"]}],
            "solution": r["solution"],
        }
        for r in rows
    ]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="tiny", help="'tiny' or a hub id such as Qwen/Qwen3-0.6B")
    ap.add_argument("--gsm8k", default=None, help="GSM8K JSONL (default: synthetic sums)")
    ap.add_argument("--sft-steps", type=int, default=150)
    ap.add_argument("--grpo-steps", type=int, default=20)
    ap.add_argument("--eval-steps", type=int, default=10)
    ap.add_argument("--num-eval", type=int, default=16, help="held-out examples and prompts")
    ap.add_argument("--max-new-tokens", type=int, default=8)
    ap.add_argument("--beta", type=float, default=0.5, help="C1(beta) and GRPO's KL coefficient")
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--out", default="runs/trl_coupling")
    args = ap.parse_args(argv)
    torch.manual_seed(0)

    # -- data: train and held-out, in TRL's formats
    rows = gsm8k(args.gsm8k) if args.gsm8k else sums(400, seed=0)
    held, train = rows[: args.num_eval], rows[args.num_eval :]
    model, tok = load_model_and_tokenizer(args.model, dtype=torch.bfloat16 if args.bf16 else None)
    if getattr(tok, "chat_template", None):
        held, train = conversational(held), conversational(train)
    experts = Dataset.from_list(held)  # prompt, completion, solution
    prompts = Dataset.from_list([{"prompt": r["prompt"], "solution": r["solution"]} for r in held])
    common = dict(
        logging_steps=args.eval_steps,
        report_to=[],  # e.g. ["wandb"]: the coupling/* values go wherever the trainer logs
        save_strategy="no",
        bf16=args.bf16,
        use_cpu=not torch.cuda.is_available(),
        per_device_eval_batch_size=16,
        seed=0,
    )

    # -- SFT: does imitation move the reward?
    if args.sft_steps > 0:
        cb = CouplingCallback(
            reward_funcs=accuracy_reward,
            eval_prompts=prompts,
            eval_steps=args.eval_steps,
            num_samples=4,
            max_new_tokens=args.max_new_tokens,
        )
        sft = SFTTrainer(
            model=model,
            args=SFTConfig(
                output_dir=f"{args.out}/sft",
                max_steps=args.sft_steps,
                per_device_train_batch_size=16,
                learning_rate=3e-3 if args.model == "tiny" else 1e-5,
                **common,
            ),
            train_dataset=Dataset.from_list(
                [{k: r[k] for k in ("prompt", "completion")} for r in train]
            ),
            processing_class=tok,
            callbacks=[cb],
        )
        sft.train()
        model = sft.model
    # GRPOTrainer builds its KL reference model from a path: hand it one
    model.save_pretrained(f"{args.out}/start")

    # -- GRPO: does RL move the SFT loss? (C1 predicts by how much, at the optimum)
    cb = CouplingCallback(
        sft_eval_dataset=experts,
        reward_funcs=accuracy_reward,
        eval_prompts=prompts,
        eval_steps=args.eval_steps,
        num_samples=4,
        max_new_tokens=args.max_new_tokens,
        grad_cosine=True,
        c1_beta=args.beta,
    )
    grpo = GRPOTrainer(
        model=f"{args.out}/start",
        reward_funcs=[accuracy_reward],
        args=GRPOConfig(
            output_dir=f"{args.out}/grpo",
            max_steps=args.grpo_steps,
            per_device_train_batch_size=16,
            num_generations=8,
            max_completion_length=args.max_new_tokens,
            learning_rate=1e-3 if args.model == "tiny" else 1e-6,
            beta=args.beta,
            **common,
        ),
        train_dataset=Dataset.from_list(
            [{"prompt": r["prompt"], "solution": r["solution"]} for r in train]
        ),
        processing_class=tok,
        callbacks=[cb],
    )
    grpo.train()

    # -- what was measured
    stages = [("grpo", grpo)] if args.sft_steps <= 0 else [("sft", sft), ("grpo", grpo)]
    keys = ("coupling/reward", "coupling/sft_nll_seq", "coupling/grad_cosine", "coupling/c1")
    print(f"{'stage':6} {'step':>5} " + " ".join(f"{k.split('/')[1]:>12}" for k in keys))
    for name, tr in stages:
        for h in tr.state.log_history:
            if any(k in h for k in keys):
                vals = " ".join(f"{h[k]:12.4f}" if k in h else f"{'':>12}" for k in keys)
                print(f"{name:6} {h['step']:5d} {vals}")


if __name__ == "__main__":
    main()
