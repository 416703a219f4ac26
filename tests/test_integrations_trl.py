"""postcouple.integrations.trl.CouplingCallback in real TRL trainers (tiny model, CPU).

Every run is a few tiny steps; a run with the callback is compared with the
same run without it, loss by loss and parameter by parameter, since the
callback must not change the trajectory (RNG, mode, gradients, log flags).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl")
pytest.importorskip("datasets")

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402

from postcouple.integrations.trl import CouplingCallback  # noqa: E402
from postcouple.models import load_model_and_tokenizer  # noqa: E402
from postcouple.rewards.trl import accuracy_reward  # noqa: E402
from trl_args import cpu_args  # noqa: E402

# A minimal chat template for the character tokenizer (printable ASCII only).
TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


def _tiny(chat: bool = False):
    model, tok = load_model_and_tokenizer("tiny", seed=0)
    if chat:
        tok.chat_template = TEMPLATE
    return model, tok


def digit_reward(completions, **kwargs):
    """Fraction of digits: varies between samples, so GRPO has a gradient."""
    texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
    return [sum(ch.isdigit() for ch in t) / max(len(t), 1) for t in texts]


def exact_reward(completions, solution, **kwargs):
    texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
    return [float(t.strip() == s) for t, s in zip(texts, solution)]


def _sums(conv: bool = False, n: int = 4):
    rows = [(a, b) for a in range(n) for b in range(n)]
    if conv:
        return {
            "prompt": [[{"role": "user", "content": f"{a}+{b}="}] for a, b in rows],
            "completion": [[{"role": "assistant", "content": str(a + b)}] for a, b in rows],
            "solution": [str(a + b) for a, b in rows],
        }
    return {
        "prompt": [f"{a}+{b}=" for a, b in rows],
        "completion": [str(a + b) for a, b in rows],
        "solution": [str(a + b) for a, b in rows],
    }


def _small_callback(**kw):
    """A CouplingCallback measuring everything on the tiny sums: 2 samples of 4 tokens."""
    return CouplingCallback(
        sft_eval_dataset=_experts(),
        reward_funcs=digit_reward,
        eval_prompts=_prompts(),
        num_samples=2,
        max_new_tokens=4,
        grad_cosine=True,
        **kw,
    )


def _fit(trainer_cls, model, tok, args, ds, callbacks, **extra):
    """A TRL trainer of ``trainer_cls`` on ``ds``, trained; ``extra`` goes to its constructor."""
    tr = trainer_cls(
        model=model,
        args=args,
        train_dataset=ds,
        processing_class=tok,
        callbacks=callbacks,
        **extra,
    )
    tr.train()
    return tr


def _grpo(tmp_path, callbacks, **over):
    from trl import GRPOConfig, GRPOTrainer

    model, tok = _tiny()
    ds = Dataset.from_dict({k: v for k, v in _sums().items() if k != "completion"})
    kw = cpu_args(
        tmp_path,
        max_steps=3,
        num_generations=4,
        max_completion_length=6,
        learning_rate=3e-3,
        per_device_eval_batch_size=4,
    )
    kw.update(over)
    args = GRPOConfig(**kw)
    return _fit(GRPOTrainer, model, tok, args, ds, callbacks, reward_funcs=[digit_reward])


def _sft(tmp_path, callbacks, conv=False, **over):
    from trl import SFTConfig, SFTTrainer

    model, tok = _tiny(chat=conv)
    ds = Dataset.from_dict({k: v for k, v in _sums(conv).items() if k != "solution"})
    kw = cpu_args(tmp_path, max_steps=3, learning_rate=3e-3, per_device_eval_batch_size=4)
    kw.update(over)
    return _fit(SFTTrainer, model, tok, SFTConfig(**kw), ds, callbacks)


def _logged(tr, key):
    return [(h["step"], h[key]) for h in tr.state.log_history if key in h]


def _same_trajectory(a, b):
    la, lb = _logged(a, "loss"), _logged(b, "loss")
    assert la and la == lb, (la, lb)
    for (n, p), (_, q) in zip(a.model.named_parameters(), b.model.named_parameters()):
        assert torch.equal(p, q), n


def _experts(conv=False, n=3):
    d = _sums(conv, n)
    return [dict(zip(d, v)) for v in zip(*d.values())]


def _prompts(conv=False, n=3):
    return [{"prompt": e["prompt"], "solution": e["solution"]} for e in _experts(conv, n)]


# ------------------------------------------------------------------------------


def test_grpo_logs_sft_loss_and_keeps_the_trajectory(tmp_path):
    cb = CouplingCallback(
        sft_eval_dataset=Dataset.from_list(_experts()),
        reward_funcs=[digit_reward, exact_reward],
        eval_prompts=_prompts(),
        eval_steps=1,
        num_samples=3,
        max_new_tokens=4,
        grad_cosine=True,
        c1_beta=[0.5, 1.0],
    )
    a = _grpo(tmp_path / "a", [cb])
    b = _grpo(tmp_path / "b", None)
    _same_trajectory(a, b)
    sft = _logged(a, "coupling/sft_loss")
    assert [s for s, _ in sft] == [0, 1, 2, 3]
    assert all(v > 0 for _, v in sft)
    assert sft[-1][1] != sft[0][1]  # the policy moved, and the callback saw it
    seq = dict(_logged(a, "coupling/sft_nll_seq"))
    assert all(seq[s] > v for s, v in sft)  # per response > per token (>= 2 tokens each)
    cos = [v for _, v in _logged(a, "coupling/grad_cosine")]
    assert len(cos) == 4 and all(-1.0 <= v <= 1.0 for v in cos), cos
    r = _logged(a, "coupling/reward")
    assert len(r) == 4 and all(0.0 <= v <= 2.0 for _, v in r)
    # C1 at the start only; the expert earns both rewards (all digits, right answers)
    assert _logged(a, "coupling/expert_reward") == [(0, 2.0)]
    for beta in (0.5, 1.0):
        c1 = _logged(a, f"coupling/c1@beta={beta:g}")
        assert [s for s, _ in c1] == [0]
        # log-mean-exp lies between the mean and the max of r / beta (Jensen), and
        # no sample can beat the expert's 2.0: (E r - 2) / beta <= C1 <= 0
        assert (r[0][1] - 2.0) / beta - 1e-9 <= c1[0][1] <= 1e-9
    # the trainer's own logs are all still there, one per step
    assert len(_logged(a, "loss")) == 3


def test_sft_trainer_logs_reward_and_keeps_the_trajectory(tmp_path):
    cb = CouplingCallback(
        reward_funcs=accuracy_reward,
        eval_prompts=Dataset.from_list(_prompts()),
        eval_steps=2,
        num_samples=2,
        max_new_tokens=4,
    )
    a = _sft(tmp_path / "a", [cb], max_steps=4)
    b = _sft(tmp_path / "b", None, max_steps=4)
    _same_trajectory(a, b)
    r = _logged(a, "coupling/reward")
    assert [s for s, _ in r] == [0, 2, 4]
    assert all(0.0 <= v <= 1.0 for _, v in r)
    assert len(_logged(a, "coupling/reward_std")) == 3
    assert not _logged(a, "coupling/sft_loss")


def test_conversational_data_goes_through_the_chat_template(tmp_path):
    from postcouple.train.logprobs import token_logprobs

    messages = [
        {
            "messages": [
                {"role": "user", "content": e["prompt"]},
                {"role": "assistant", "content": e["completion"]},
            ]
        }
        for e in _experts()
    ]
    calls = []

    def spy(completions, solution, **kw):
        calls.append((completions, kw["prompts"]))
        return accuracy_reward(completions, solution)

    cb = CouplingCallback(
        sft_eval_dataset=messages,
        reward_funcs=spy,
        eval_prompts=_prompts(conv=True),
        eval_steps=1,
        num_samples=2,
        max_new_tokens=4,
    )
    a = _sft(tmp_path / "a", [cb], conv=True, max_steps=2)
    assert len(_logged(a, "coupling/reward")) == 3
    # completions arrive as TRL's conversational completions
    comps, prompts = calls[0]
    assert comps[0][0]["role"] == "assistant" and isinstance(comps[0][0]["content"], str)
    assert prompts[0] == [{"role": "user", "content": "0+0="}]
    # oracle for the step-0 SFT loss: the starting model on the template text
    model, tok = _tiny(chat=True)
    model.eval()
    tot, ntok, seqs = 0.0, 0, []
    for e, m in zip(_experts(), messages):
        p = f"<user>{e['prompt']}\n<assistant>"  # the template, written out
        full = p + e["completion"] + "\n"
        assert full == tok.apply_chat_template(m["messages"], tokenize=False)
        ids = torch.tensor([tok(full, add_special_tokens=False)["input_ids"]])
        with torch.no_grad():
            lp = token_logprobs(model(input_ids=ids).logits[:, :-1], ids[:, 1:])[0]
        nll = -lp[len(p) - 1 :]  # response tokens: the answer and the newline
        tot, ntok = tot + float(nll.sum()), ntok + len(nll)
        seqs.append(float(nll.sum()))
    step0 = dict(_logged(a, "coupling/sft_loss"))[0]
    assert step0 == pytest.approx(tot / ntok, rel=1e-5)
    assert dict(_logged(a, "coupling/sft_nll_seq"))[0] == pytest.approx(
        sum(seqs) / len(seqs), rel=1e-5
    )


def test_plain_and_conversational_expert_formats_agree(tmp_path):
    """prompt/completion (conversational) and messages give the same SFT loss."""
    exp = _experts(conv=True)
    msgs = [{"messages": e["prompt"] + e["completion"]} for e in exp]
    vals = []
    for data in (exp, msgs):
        cb = CouplingCallback(sft_eval_dataset=data, eval_steps=10)
        tr = _sft(tmp_path / str(len(vals)), [cb], conv=True, max_steps=1)
        vals.append(_logged(tr, "coupling/sft_loss")[0][1])
    assert vals[0] == vals[1]


def test_bf16_and_gradient_checkpointing(tmp_path):
    cb = _small_callback(eval_steps=1)
    over = dict(bf16=True, gradient_checkpointing=True, max_steps=2)
    a = _grpo(tmp_path / "a", [cb], **over)
    b = _grpo(tmp_path / "b", None, **over)
    _same_trajectory(a, b)
    assert len(_logged(a, "coupling/sft_loss")) == 3
    assert all(-1 <= v <= 1 for _, v in _logged(a, "coupling/grad_cosine"))


def test_state_is_restored_around_an_evaluation(tmp_path):
    """Mid-accumulation gradients, train mode and every RNG survive an evaluation."""
    import random

    import numpy as np
    from trl import SFTConfig, SFTTrainer

    model, tok = _tiny()
    ds = Dataset.from_dict({k: v for k, v in _sums().items() if k != "solution"})
    args = SFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[], bf16=False, seed=0)
    tr = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok)
    cb = _small_callback()
    cb.trainer = tr  # not attached: called by hand
    grads = [torch.randn_like(p) for p in model.parameters()]
    for p, g in zip(model.parameters(), grads):
        p.grad = g.clone()
    model.train()
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    before = (random.random(), np.random.rand(), torch.rand(1))
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    cb.on_train_begin(tr.args, tr.state, tr.control, processing_class=tok)
    assert (random.random(), np.random.rand(), torch.rand(1)) == before
    assert model.training
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads))
    logged = tr.state.log_history[-1]
    assert {"coupling/sft_loss", "coupling/reward", "coupling/grad_cosine"} <= set(logged)


DDP_SCRIPT = r"""
import json, os, sys
import torch
torch.set_num_threads(1)
from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer
from postcouple.integrations.trl import CouplingCallback
from postcouple.models import load_model_and_tokenizer

out = sys.argv[1]
def digit_reward(completions, **kw):
    return [sum(ch.isdigit() for ch in t) / max(len(t), 1) for t in completions]
rows = [(a, b) for a in range(3) for b in range(3)]
experts = [{"prompt": f"{a}+{b}=", "completion": str(a + b), "solution": str(a + b)} for a, b in rows]
ds = Dataset.from_dict({"prompt": [e["prompt"] for e in experts] * 2, "solution": [e["solution"] for e in experts] * 2})
res = {}
for name in ("with", "without"):
    model, tok = load_model_and_tokenizer("tiny", seed=0)
    cb = CouplingCallback(sft_eval_dataset=experts, reward_funcs=digit_reward,
        eval_prompts=[{"prompt": e["prompt"], "solution": e["solution"]} for e in experts[:5]],
        eval_steps=1, num_samples=2, max_new_tokens=4, grad_cosine=True, c1_beta=1.0)
    cfg = GRPOConfig(output_dir=out, max_steps=2, per_device_train_batch_size=4, num_generations=4,
        max_completion_length=4, learning_rate=3e-3, logging_steps=1, report_to=[], use_cpu=True,
        save_strategy="no", seed=0, per_device_eval_batch_size=3, bf16=False)
    tr = GRPOTrainer(model=model, reward_funcs=[digit_reward], args=cfg, train_dataset=ds,
                     processing_class=tok, callbacks=[cb] if name == "with" else None)
    tr.train()
    res[name] = {"world": tr.accelerator.num_processes, "log": tr.state.log_history,
                 "params": [float(p.double().sum()) for p in tr.model.parameters()]}
with open(os.path.join(out, f"log{os.environ.get('RANK', 0)}.json"), "w") as f:
    json.dump(res, f)
"""


def _oracle_sft_loss(experts):
    """Token-mean NLL of plain prompt/completion experts (+ EOS), one forward each."""
    from postcouple.train.logprobs import token_logprobs

    model, tok = _tiny()
    model.eval()
    tot, ntok = 0.0, 0
    for e in experts:
        p = tok(e["prompt"])["input_ids"]
        ids = torch.tensor([tok(e["prompt"] + e["completion"])["input_ids"] + [tok.eos_token_id]])
        with torch.no_grad():
            lp = token_logprobs(model(input_ids=ids).logits[:, :-1], ids[:, 1:])[0]
        tot, ntok = tot - float(lp[len(p) - 1 :].sum()), ntok + len(lp) - len(p) + 1
    return tot / ntok


def test_two_processes_under_torchrun(tmp_path):
    """2 CPU processes (gloo): every rank logs the same values, the sharded SFT
    loss is the whole set's, nothing deadlocks, and the trajectory is unchanged."""
    script = tmp_path / "run.py"
    script.write_text(DDP_SCRIPT)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    cmd += ["--master_port", str(port), str(script), str(tmp_path)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    r0, r1 = (json.loads((tmp_path / f"log{r}.json").read_text()) for r in (0, 1))
    assert r0["with"]["world"] == 2

    def coupling(log):
        return [{k: v for k, v in h.items() if k.startswith("coupling/")} for h in log]

    c0, c1 = coupling(r0["with"]["log"]), coupling(r1["with"]["log"])
    assert c0 == c1
    sft = [h["coupling/sft_loss"] for h in c0 if "coupling/sft_loss" in h]
    assert len(sft) == 3
    rows = [(a, b) for a in range(3) for b in range(3)]
    experts = [{"prompt": f"{a}+{b}=", "completion": str(a + b)} for a, b in rows]
    assert sft[0] == pytest.approx(_oracle_sft_loss(experts), rel=1e-5)
    assert sum("coupling/grad_cosine" in h for h in c0) == 3
    assert sum("coupling/c1" in h for h in c0) == 1
    for r in (r0, r1):
        assert r["with"]["params"] == r["without"]["params"]
        gn = [h["grad_norm"] for h in r["with"]["log"] if "grad_norm" in h]
        assert gn and gn == [h["grad_norm"] for h in r["without"]["log"] if "grad_norm" in h]


def test_bad_arguments():
    ok = dict(reward_funcs=accuracy_reward, eval_prompts=_prompts())
    with pytest.raises(ValueError, match="nothing to measure"):
        CouplingCallback()
    with pytest.raises(ValueError, match="go together"):
        CouplingCallback(reward_funcs=accuracy_reward)
    with pytest.raises(ValueError, match="eval_steps"):
        CouplingCallback(eval_steps=0, **ok)
    with pytest.raises(ValueError, match="temperature"):
        CouplingCallback(temperature=0.0, **ok)
    with pytest.raises(TypeError, match="reward_funcs"):
        CouplingCallback(reward_funcs=["Qwen/reward-model"], eval_prompts=_prompts())
    with pytest.raises(ValueError, match="'prompt' and 'completion'"):
        CouplingCallback(sft_eval_dataset=[{"text": "hello"}])
    with pytest.raises(TypeError, match="must both be strings"):
        CouplingCallback(
            sft_eval_dataset=[
                {"prompt": "a", "completion": [{"role": "assistant", "content": "b"}]}
            ]
        )
    with pytest.raises(ValueError, match="assistant turn"):
        CouplingCallback(sft_eval_dataset=[{"messages": [{"role": "assistant", "content": "b"}]}])
    with pytest.raises(ValueError, match="no 'prompt'"):
        CouplingCallback(reward_funcs=accuracy_reward, eval_prompts=[{"question": "1+1"}])
    with pytest.raises(ValueError, match="empty"):
        CouplingCallback(sft_eval_dataset=[])
    with pytest.raises(ValueError, match="grad_cosine needs"):
        CouplingCallback(grad_cosine=True, **ok)
    with pytest.raises(ValueError, match="c1_beta needs"):
        CouplingCallback(c1_beta=0.5, **ok)
    with pytest.raises(ValueError, match="c1_beta"):
        CouplingCallback(sft_eval_dataset=_experts(), c1_beta=-1.0, **ok)
    with pytest.raises(TypeError, match="sft_eval_dataset"):
        CouplingCallback(sft_eval_dataset="data.jsonl")


def test_conversational_data_needs_a_chat_template(tmp_path):
    cb = CouplingCallback(sft_eval_dataset=_experts(conv=True), eval_steps=10)
    with pytest.raises(ValueError, match="chat template"):
        _grpo(tmp_path, [cb], max_steps=1)


def test_doctests():
    import doctest

    from postcouple.integrations import _hf
    from postcouple.integrations import trl as T

    for mod in (T, _hf):
        res = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert res.attempted > 0 and res.failed == 0, (mod.__name__, res)


def test_the_package_does_not_import_transformers():
    code = (
        "import sys, postcouple, postcouple.integrations, postcouple.rewards.trl\n"
        "bad = [m for m in ('torch', 'transformers', 'trl') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ.copy())


def test_the_example_runs(tmp_path, capsys):
    """examples/trl_grpo_with_coupling.py end to end (SFT then GRPO), shortened."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "examples" / "trl_grpo_with_coupling.py"
    spec = importlib.util.spec_from_file_location("trl_grpo_with_coupling", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(
        ["--sft-steps", "4", "--grpo-steps", "2", "--eval-steps", "2", "--num-eval", "4"]
        + ["--out", str(tmp_path)]
    )
    lines = capsys.readouterr().out.splitlines()
    table = lines[lines.index(next(x for x in lines if x.startswith("stage"))) + 1 :]
    assert [x.split()[:2] for x in table] == [
        ["sft", "0"], ["sft", "2"], ["sft", "4"], ["grpo", "0"], ["grpo", "2"]
    ]  # fmt: skip
    # reward and sft_nll_seq at every GRPO evaluation, c1 at the start (grad_cosine
    # is left out where all rewards of the probe are equal, as after 4 SFT steps)
    assert table[3][-12:].strip() and not table[4][-12:].strip()
    assert all(len(x.split()) >= 4 for x in table[3:])
