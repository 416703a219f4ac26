"""postcouple.rewards against the real peers: math-verify (agreement on a
constructed corpus with known truth), TRL (accuracy_reward parity and a real
GRPOTrainer run with our reward function) and verl (gsm8k and MATH scorers).
Each test skips when its peer is not installed (`make install` installs them)."""

from __future__ import annotations

import collections
import importlib.util
import json

import pytest

import rewards_corpus  # noqa: F401
from postcouple.rewards import math_equal, math_reward
from postcouple.rewards.trl import accuracy_reward
from postcouple.rewards.verl import compute_score
from rewards_corpus import KNOWN_MATH_VERIFY_FALSE_POSITIVES, build
from verl_import import import_verl


def _need(mod: str):
    if importlib.util.find_spec(mod) is None:
        pytest.skip(f"{mod} is not installed (make install)")


# --------------------------------------------------------------------------
# math-verify


def test_agreement_with_math_verify_and_truth(data_dir):
    _need("math_verify")
    from math_verify import parse, verify

    cases = build(data_dir)
    assert len(cases) > 4000
    ours = [math_equal(c.pred, c.gold) for c in cases]
    mv = [bool(verify(parse(f"${c.gold}$"), parse(f"${c.pred}$"))) for c in cases]
    we_wrong = [c for c, u in zip(cases, ours) if u != c.truth]
    disagreements = collections.Counter()
    for c, u, m in zip(cases, ours, mv):
        if u != m:
            who = "math-verify wrong" if u == c.truth else "postcouple wrong"
            disagreements[(who, c.kind)] += 1
            print(f"DISAGREE [{who}] {c.kind}: pred={c.pred!r} gold={c.gold!r} truth={c.truth}")
    print("disagreements by class:", dict(disagreements))
    agreement = sum(u == m for u, m in zip(ours, mv)) / len(cases)
    print(f"agreement {agreement:.4f} over {len(cases)} pairs")
    # where math-verify is wrong we must be right; we are right everywhere here
    assert not we_wrong, we_wrong
    assert agreement >= 0.99
    for c in KNOWN_MATH_VERIFY_FALSE_POSITIVES:
        assert math_equal(c.pred, c.gold) is False


# --------------------------------------------------------------------------
# TRL


def _math500(data_dir):
    return [json.loads(x) for x in (data_dir / "math500" / "test.jsonl").open()]


def test_trl_accuracy_reward_parity(data_dir):
    _need("trl")
    _need("math_verify")
    from trl.rewards import accuracy_reward as trl_accuracy

    rows = _math500(data_dir)
    comps = [[{"role": "assistant", "content": r["solution"]}] for r in rows]
    wrong = [[{"role": "assistant", "content": "so \\boxed{" + r["answer"] + "+1}"}] for r in rows]
    sols = [f"${r['answer']}$" for r in rows]
    ours = accuracy_reward(comps + wrong, sols * 2)
    theirs = trl_accuracy(comps + wrong, sols * 2)
    both = [(o, t) for o, t in zip(ours, theirs) if t is not None and o is not None]
    agree = sum(o == t for o, t in both) / len(both)
    print(f"TRL accuracy_reward agreement {agree:.4f} on {len(both)}")
    assert len(both) >= 900 and agree >= 0.99
    # plain-string completions are accepted too
    assert accuracy_reward(["\\boxed{2}", "\\boxed{3}"], ["2", "2"]) == [1.0, 0.0]
    assert accuracy_reward(["\\boxed{2}"], ["\\frac{"]) == [None]
    with pytest.raises(TypeError, match="completions"):
        accuracy_reward([3], ["2"])


def test_a_real_grpo_trainer_run_with_our_reward(tmp_path):
    _need("trl")
    _need("datasets")
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from postcouple.models import load_model_and_tokenizer
    from postcouple.rewards.trl import accuracy_reward as ours

    torch.manual_seed(0)
    model, tok = load_model_and_tokenizer("tiny")
    calls = []

    def reward(completions, solution, **kw):
        out = ours(completions, solution, **kw)
        calls.append(out)
        return out

    reward.__name__ = "accuracy_reward"
    ds = Dataset.from_dict(
        {
            "prompt": [f"{a}+{b}=" for a in range(4) for b in range(4)],
            "solution": [str(a + b) for a in range(4) for b in range(4)],
        }
    )
    cfg = GRPOConfig(
        output_dir=str(tmp_path),
        max_steps=2,
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=6,
        learning_rate=1e-4,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        bf16=False,
        seed=0,
    )
    trainer = GRPOTrainer(
        model=model, reward_funcs=[reward], args=cfg, train_dataset=ds, processing_class=tok
    )
    trainer.train()
    logged = [h for h in trainer.state.log_history if "rewards/accuracy_reward/mean" in h]
    assert logged, trainer.state.log_history
    assert calls and all(v in (0.0, 1.0) for batch in calls for v in batch)


# --------------------------------------------------------------------------
# verl


def test_verl_gsm8k_parity(data_dir):
    gsm8k = import_verl("verl.utils.reward_score.gsm8k")
    if gsm8k is None:
        pytest.skip("verl is not importable here")
    rows = [json.loads(x) for x in (data_dir / "gsm8k" / "test.jsonl").open()][:300]
    golds = [r["answer"].split("####")[-1].strip().replace(",", "") for r in rows]
    texts = []
    for r, g in zip(rows, golds):
        n = int(g)
        texts += [
            (r["answer"], g),  # the reference solution itself
            (f"work\n#### {n:,}", g),
            (f"work\n#### {n + 1}", g),
            (f"the answer is {n}", g),  # no '####': strict gives 0
            (f"#### -{n}", g),
        ]
    for method in ("strict", "flexible"):
        ours = [compute_score("openai/gsm8k", t, g, {"method": method}) for t, g in texts]
        theirs = [float(gsm8k.compute_score(t, g, method=method)) for t, g in texts]
        diff = [(t, g, o, th) for (t, g), o, th in zip(texts, ours, theirs) if o != th]
        if method == "flexible":
            # verl's flexible method compares the raw last number, commas kept
            # ("70,000" != "70000"); we compare values: the only difference
            diff = [d for d in diff if not ("," in d[0] and d[2] == 1.0 and d[3] == 0.0)]
        assert not diff, diff[:10]
    # where verl's string comparison is stricter than the value, we score the value
    assert compute_score("openai/gsm8k", "#### 72.00", "72") == 1.0
    assert gsm8k.compute_score("#### 72.00", "72") == 0


def test_verl_math_scorer_is_a_subset_of_ours(data_dir):
    m = import_verl("verl.utils.reward_score.math_reward")
    if m is None:
        pytest.skip("verl is not importable here")
    rows = _math500(data_dir)
    sols = [r["solution"] for r in rows]
    golds = [r["answer"] for r in rows]
    theirs = [float(m.compute_score(s, g)) for s, g in zip(sols, golds)]
    ours = [compute_score("HuggingFaceH4/MATH-500", s, g) for s, g in zip(sols, golds)]
    assert all(o == 1.0 for o, t in zip(ours, theirs) if t == 1.0)
    assert math_reward(sols, golds, mode="boxed").mean() >= 0.99
