"""End-to-end runs of the training engine on the tiny model (CPU, one thread)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cli_run import run_postcouple
from postcouple.train import RunConfig, run
from postcouple.train.checkpoint import latest_checkpoint
from postcouple.train.config import dump_toml
from postcouple.train.rl import aggregate, kl_per_token

SMALL = {"max_operand": 4, "num_train": 400, "num_eval": 64}


def tiny_cfg(out: Path, schedule: str, **kw) -> RunConfig:
    cfg = RunConfig(schedule=schedule, out=str(out), progress=False, checkpoint_interval=3)
    cfg.model.hidden_size = 32
    cfg.model.intermediate_size = 64
    cfg.task.options = dict(SMALL)
    cfg.sft.batch_size = 16
    cfg.sft.packing = False
    cfg.rl.num_prompts = 4
    cfg.rl.num_generations = 4
    cfg.rl.max_new_tokens = 8
    cfg.eval.interval = 3
    cfg.eval.num_examples = 16
    cfg.eval.num_prompts = 8
    cfg.eval.num_samples = 2
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def read(path: Path, drop_time: bool = True) -> list[dict]:
    recs = [json.loads(x) for x in (path / "metrics.jsonl").read_text().splitlines()]
    if drop_time:
        recs = [
            {k: v for k, v in r.items() if not k.startswith("time") and k != "tokens_per_s"}
            for r in recs
        ]
    return recs


def test_run_writes_everything(tmp_path):
    cfg = tiny_cfg(tmp_path / "r", "sft:4,rl:2,joint:2")
    cfg.eval.grad_cosine = True
    last = run(cfg)
    out = tmp_path / "r"
    recs = read(out)
    train = [r for r in recs if r["kind"] == "train"]
    assert [r["stage"] for r in train] == ["sft"] * 4 + ["rl"] * 2 + ["joint"] * 2
    assert [r["step"] for r in train] == list(range(1, 9))
    evals = [r for r in recs if r["kind"] == "eval"]
    assert evals[0]["step"] == 0 and evals[-1]["step"] == 8
    for k in (
        "sft_loss",
        "sft_nll_seq",
        "reward",
        "greedy_acc",
        "kl_init",
        "entropy",
        "kl_expert",
        "grad_norm_sft",
        "grad_norm_rl",
    ):
        assert k in last and math.isfinite(last[k]), k
    assert evals[0]["kl_init"] == pytest.approx(0.0, abs=1e-5)  # policy == reference at start
    # the untrained model earns no reward: all-equal groups give no RL gradient, and
    # the cosine is undefined (NaN) exactly then
    for e in evals:
        if e["grad_norm_rl"] == 0:
            assert math.isnan(e["grad_cos"])
        else:
            assert -1.0 <= e["grad_cos"] <= 1.0
    assert (out / "config.toml").exists() and (out / "final" / "model.safetensors").exists()
    assert latest_checkpoint(out / "checkpoints").name == "step-00000008"
    rl = [r for r in train if r["stage"] == "rl"]
    assert all(0.0 <= r["reward"] <= 1.0 and r["tokens"] > 0 for r in rl)
    with pytest.raises(ValueError, match="already holds a run"):
        run(cfg)


def test_sft_lowers_the_loss(tmp_path):
    cfg = tiny_cfg(tmp_path / "r", "sft:30")
    cfg.sft.learning_rate = 3e-3
    cfg.eval.interval = 30
    run(cfg)
    ev = [r for r in read(tmp_path / "r") if r["kind"] == "eval"]
    assert ev[-1]["sft_loss"] < 0.6 * ev[0]["sft_loss"]


def test_evaluation_does_not_change_training(tmp_path):
    a = tiny_cfg(tmp_path / "a", "sft:3,rl:3")
    b = tiny_cfg(tmp_path / "b", "sft:3,rl:3")
    b.eval.interval = 1
    run(a)
    run(b)
    ta = [r for r in read(tmp_path / "a") if r["kind"] == "train"]
    tb = [r for r in read(tmp_path / "b") if r["kind"] == "train"]
    assert ta == tb


def test_init_from_starts_where_the_other_run_ended(tmp_path):
    run(tiny_cfg(tmp_path / "a", "sft:6"))
    b = tiny_cfg(tmp_path / "b", "rl:1", init_from=str(tmp_path / "a"))
    run(b)
    ea = [r for r in read(tmp_path / "a") if r["kind"] == "eval"][-1]
    eb = [r for r in read(tmp_path / "b") if r["kind"] == "eval"][0]
    assert eb["sft_loss"] == pytest.approx(ea["sft_loss"], rel=1e-6)
    assert eb["kl_init"] == pytest.approx(0.0, abs=1e-5)


def sft6_cfg(out: Path, checkpoint_interval: int) -> Any:
    """``sft:6`` on the tiny model into ``out``, evaluated every 2 steps."""
    cfg = tiny_cfg(out, "sft:6", checkpoint_interval=checkpoint_interval)
    cfg.eval.interval = 2
    return cfg


def at_step(n: int, action: Any) -> Any:
    """A :func:`run` hook that calls ``action(ctx)`` once step ``n`` is logged."""

    def hook(rec: dict[str, Any], ctx: Any) -> None:
        if rec["step"] == n:
            action(ctx)

    return hook


def start_beside_reference(
    tmp_path: Path, name: str, checkpoint_interval: int, **popen: Any
) -> subprocess.Popen:
    """Runs ``sft:7,rl:6`` in-process into ``tmp_path/ref``, then starts the same run
    as ``postcouple train --config tmp_path/<name>.toml`` (into ``tmp_path/<name>``)
    in a subprocess for the caller to interrupt; ``popen`` goes to :class:`subprocess.Popen`."""
    sched = "sft:7,rl:6"
    run(tiny_cfg(tmp_path / "ref", sched, checkpoint_interval=checkpoint_interval))
    cfg = tiny_cfg(tmp_path / name, sched, checkpoint_interval=checkpoint_interval)
    dump_toml(cfg, tmp_path / f"{name}.toml")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "postcouple", "train", "--config", str(tmp_path / f"{name}.toml")]
    return subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, **popen)


def assert_resume_equals(config: Path, out: Path, ref: Path) -> None:
    """``postcouple train --config config --resume`` succeeds and ``out`` then logs
    exactly what the uninterrupted run in ``ref`` logged."""
    r = run_postcouple("train", "--config", str(config), "--resume")
    assert r.returncode == 0, r.stderr[-3000:]
    assert read(out) == read(ref)


def test_resume_after_kill_equals_uninterrupted(tmp_path):
    p = start_beside_reference(tmp_path, "killed", 2, stdout=subprocess.DEVNULL)
    root = tmp_path / "killed" / "checkpoints"
    deadline = time.time() + 120
    while time.time() < deadline:  # kill mid-RL-stage, after its first checkpoint
        ck = latest_checkpoint(root)
        if ck is not None and int(ck.name[5:]) >= 10:
            break
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not (tmp_path / "killed" / "final").exists(), "the run finished before the kill"
    assert_resume_equals(tmp_path / "killed.toml", tmp_path / "killed", tmp_path / "ref")


def test_nan_stops_the_run_and_keeps_the_last_checkpoint(tmp_path):
    cfg = sft6_cfg(tmp_path / "r", checkpoint_interval=3)

    def poison(ctx):
        with torch.no_grad():
            next(ctx.model.parameters()).fill_(float("nan"))

    with pytest.raises(FloatingPointError, match="last good checkpoint"):
        run(cfg, hooks=[at_step(4, poison)])
    ck = latest_checkpoint(tmp_path / "r" / "checkpoints")
    assert ck is not None and ck.name == "step-00000003"
    from safetensors.torch import load_file

    w = load_file(str(ck / "model.safetensors"))
    assert all(torch.isfinite(t).all() for t in w.values())


def test_rl_step_raises_logprob_of_rewarded_samples():
    from postcouple.models import TinySize, load_model_and_tokenizer
    from postcouple.tasks.arith import ArithTask
    from postcouple.train.config import RLConfig
    from postcouple.train.logprobs import sequence_logprobs
    from postcouple.train.rl import policy_loss, rollout

    torch.manual_seed(0)
    model, tok = load_model_and_tokenizer(
        "tiny", tiny=TinySize(hidden_size=32, intermediate_size=64)
    )
    task = ArithTask(reward_type="correct", num_train=8, num_eval=1, max_operand=4)
    cfg = RLConfig(num_prompts=4, num_generations=8, max_new_tokens=4)
    ex = task.train_examples()[:4]
    # a reward that the random model earns sometimes: completions starting with a digit
    task.reward = lambda c, e: np.array([float(x[:1].isdigit()) for x in c], dtype=np.float32)
    ro, r, adv, _ = rollout(model, tok, task, ex, cfg)
    assert 0 < r.mean() < 1
    with torch.no_grad():
        before, _ = sequence_logprobs(model, ro)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    loss, _ = policy_loss(model, ro, adv, cfg, slice(None), None, None)
    loss.backward()
    opt.step()
    with torch.no_grad():
        after, _ = sequence_logprobs(model, ro)
    m = ro.response_mask.float()
    d = ((after - before) * m).sum(1).numpy()
    pos, neg = adv[:, 0].numpy() > 0, adv[:, 0].numpy() < 0
    assert d[pos].mean() > 0 > d[neg].mean()


def test_kl_estimators_and_aggregation():
    lp = torch.tensor([[-1.0, -2.0, -0.5]])
    ref = torch.tensor([[-1.5, -1.0, -0.5]])
    d = ref - lp
    assert torch.allclose(kl_per_token(lp, ref, "k1"), -d)
    assert torch.allclose(kl_per_token(lp, ref, "k2"), 0.5 * d**2)
    assert torch.allclose(kl_per_token(lp, ref, "k3"), d.exp() - d - 1)
    assert (kl_per_token(lp, ref, "k3") >= 0).all()
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    m = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert aggregate(x, m, "token-mean", 3) == pytest.approx((1 + 2 + 4) / 3)
    assert aggregate(x, m, "seq-mean-token-mean", 3) == pytest.approx((1.5 + 4) / 2)
    assert aggregate(x, m, "seq-mean-token-sum", 3) == pytest.approx((3 + 4) / 2)
    assert aggregate(x, m, "seq-mean-token-sum-norm", 3) == pytest.approx(7 / 6)


def test_bad_rl_config_is_a_clear_error(tmp_path):
    cfg = tiny_cfg(tmp_path / "r", "rl:1")
    cfg.rl.loss_agg_mode = "mean"
    with pytest.raises(ValueError, match="loss_agg_mode"):
        run(cfg)
    cfg = tiny_cfg(tmp_path / "r2", "rl:1")
    cfg.rl.num_mini_batches = 3
    with pytest.raises(ValueError, match="num_mini_batches"):
        run(cfg)


def test_train_cli_short_form(tmp_path):
    out = tmp_path / "cli"
    cfg = tiny_cfg(out, "sft:2,rl:1")
    dump_toml(cfg, tmp_path / "c.toml")
    r = run_postcouple(
        "train",
        "--config",
        str(tmp_path / "c.toml"),
        "--model",
        "tiny",
        "--task",
        "arith",
        "--schedule",
        "sft:2,rl:1",
        "--out",
        str(out),
        "--set",
        "rl.beta=0.1",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "run:" in r.stdout
    assert "beta = 0.1" in (out / "config.toml").read_text()
    bad = subprocess.run(
        [sys.executable, "-m", "postcouple", "train", "--set", "rl.nope=1"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "valid keys" in bad.stderr


@pytest.mark.parametrize("attn", ["sdpa_varlen", "sdpa", "eager"])
def test_packed_batch_gives_the_same_per_sequence_loss_as_unpacked(attn):
    from postcouple.models import TinySize, load_model_and_tokenizer
    from postcouple.tasks.arith import ArithTask
    from postcouple.train.data import encode_examples, pad_right
    from postcouple.train.logprobs import shifted_nll
    from postcouple.train.sft import micro_batches

    model, tok = load_model_and_tokenizer(
        "tiny", tiny=TinySize(hidden_size=32, intermediate_size=64), attn_implementation=attn
    )
    ex = ArithTask(num_train=24, num_eval=1, formats={"tag": 0.5, "sentence": 0.5}).train_examples()
    seqs, plens = encode_examples(tok, ex, 64)
    with torch.no_grad():
        # unpacked: one sequence at a time, no padding at all
        single = []
        for s, p in zip(seqs, plens):
            ids, att, lab = pad_right([s], p[None], tok.pad_token_id, torch.device("cpu"))
            nll, _ = shifted_nll(model, ids, lab, att)
            single.append(float(nll.sum()))
        (mb,) = micro_batches(
            tok, ex, packing=True, capacity=4096, max_length=64, device=torch.device("cpu")
        )
        nll, mask = shifted_nll(model, mb["input_ids"], mb["labels"], None, mb["position_ids"])
    # split the packed row's per-token NLL back into sequences
    from postcouple.packing import pack

    plan = pack([len(s) for s in seqs], 4096)
    starts = np.concatenate([[0], np.cumsum(plan.length)])
    packed = {
        int(s): float(nll[0, a : b - 1].sum())  # token t predicts t+1 (shifted)
        for s, a, b in zip(plan.seq, starts[:-1], starts[1:])
    }
    for i, v in enumerate(single):
        assert packed[i] == pytest.approx(v, rel=1e-5, abs=1e-5)


def test_packed_and_padded_sft_steps_give_the_same_loss(tmp_path):
    a = tiny_cfg(tmp_path / "a", "sft:3")
    b = tiny_cfg(tmp_path / "b", "sft:3")
    b.sft.packing = True
    run(a)
    run(b)
    la = [r["loss"] for r in read(tmp_path / "a") if r["kind"] == "train"]
    lb = [r["loss"] for r in read(tmp_path / "b") if r["kind"] == "train"]
    assert lb == pytest.approx(la, rel=1e-4)


def _rollout_with_spread(seed=0):
    """A real rollout whose prompts differ in length (so rows are left padded)
    and whose completions stop at different eos positions."""
    from postcouple.models import TinySize, load_model_and_tokenizer
    from postcouple.tasks.arith import ArithTask
    from postcouple.train.sampling import sample

    model, tok = load_model_and_tokenizer(
        "tiny", seed=seed, tiny=TinySize(hidden_size=32, intermediate_size=64)
    )
    ex = ArithTask(num_train=12, num_eval=1, max_operand=999).train_examples()
    prompts = [e.prompt + " " * (i % 5) for i, e in enumerate(ex)]  # lengths spread
    torch.manual_seed(seed)
    ro = sample(model, tok, prompts, num_generations=3, max_new_tokens=10)
    return model, tok, ro


@pytest.mark.parametrize("seed", [0, 1])
def test_packed_rl_logprobs_equal_padded(seed):
    from postcouple.train.logprobs import sequence_logprobs

    model, _, ro = _rollout_with_spread(seed)
    lens = ro.attention_mask[:, : ro.prompt_len].sum(1)
    assert lens.min() < lens.max()  # prompts really are padded
    assert ro.response_mask.sum(1).min() < ro.response_mask.shape[1]  # some stop early
    m = ro.response_mask.bool()
    a, ea = sequence_logprobs(model, ro, with_entropy=True)
    (a * m).sum().backward()
    ga = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    b, eb = sequence_logprobs(model, ro, with_entropy=True, packing=True)
    (b * m).sum().backward()
    torch.testing.assert_close(b[m], a[m], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(eb[m], ea[m], rtol=1e-5, atol=1e-5)
    assert (b[~m] == 0).all() and (eb[~m] == 0).all()
    for g, p in zip(ga, model.parameters()):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-5)


def test_packed_rl_logprobs_need_a_prompt():
    from postcouple.train.logprobs import sequence_logprobs
    from postcouple.train.sampling import Rollout

    model, _, ro = _rollout_with_spread()
    bad = Rollout(ro.input_ids, ro.attention_mask.clone(), ro.response_mask, ro.prompt_len, [], 0)
    bad.attention_mask[0, : ro.prompt_len] = 0
    with pytest.raises(ValueError, match="non-empty prompt"):
        sequence_logprobs(model, bad, packing=True)


def test_packed_and_padded_rl_steps_give_the_same_metrics(tmp_path):
    # several epochs and mini-batches (old log-probs reused) and a KL term to the
    # reference: every log-prob forward of the step goes through the packed path
    runs = {}
    for packing in (False, True):
        cfg = tiny_cfg(tmp_path / str(packing), "rl:3")
        cfg.rl.packing = packing
        cfg.rl.num_iterations = 2
        cfg.rl.num_mini_batches = 2
        cfg.rl.beta = 0.1
        run(cfg)
        runs[packing] = [r for r in read(tmp_path / str(packing)) if r["kind"] == "train"]
    assert len(runs[True]) == 3
    for a, b in zip(runs[False], runs[True]):
        for k in ("loss", "kl", "entropy", "reward", "clip_frac"):
            assert b[k] == pytest.approx(a[k], rel=1e-3, abs=1e-5), k


def test_no_learning_signal_is_warned_once(tmp_path):
    # the untrained model earns no reward on arith: every group is all zeros
    cfg = tiny_cfg(tmp_path / "r", "rl:3,joint:1")
    from postcouple.train.engine import NoLearningSignalWarning

    with pytest.warns(NoLearningSignalWarning) as rec:
        run(cfg)
    train = [r for r in read(tmp_path / "r") if r["kind"] == "train"]
    assert all(r["frac_reward_zero_std"] == 1.0 for r in train)
    msgs = [w for w in rec if issubclass(w.category, NoLearningSignalWarning)]
    assert len(msgs) == 1 and "RL step 1:" in str(msgs[0].message)


def test_a_learning_signal_is_not_warned(tmp_path, recwarn):
    cfg = tiny_cfg(tmp_path / "r", "rl:2")
    cfg.rl.num_generations = 8

    def first_char_digit(prompts, completions, solution, **kw):
        return [float(c[:1].isdigit()) for c in completions]

    run(cfg, reward_funcs=[first_char_digit])
    train = [r for r in read(tmp_path / "r") if r["kind"] == "train"]
    assert all(r["frac_reward_zero_std"] < 1.0 for r in train)
    from postcouple.train.engine import NoLearningSignalWarning

    assert not [w for w in recwarn if issubclass(w.category, NoLearningSignalWarning)]


def test_run_files_share_one_mode(tmp_path):
    old = os.umask(0o022)
    try:
        run(tiny_cfg(tmp_path / "r", "sft:3"))
    finally:
        os.umask(old)
    out = tmp_path / "r"
    ck = latest_checkpoint(out / "checkpoints")

    def mode(p):
        return p.stat().st_mode & 0o777

    assert mode(out / "metrics.jsonl") == 0o644
    files = [out / "config.toml", out / "checkpoints" / "latest", *ck.iterdir()]
    for f in [*files, *(out / "final").iterdir()]:
        assert mode(f) == 0o644, f
    assert mode(ck) == mode(out / "final") == mode(out) == 0o755


def test_grad_cosine_samples_with_the_rl_top_p(monkeypatch):
    from postcouple.models import TinySize, load_model_and_tokenizer
    from postcouple.tasks.arith import ArithTask
    from postcouple.train import sampling
    from postcouple.train.config import RLConfig
    from postcouple.train.evaluate import grad_cosine

    seen = []
    real = sampling.sample

    def spy(*a, **kw):
        seen.append((kw["top_p"], kw["temperature"]))
        return real(*a, **kw)

    monkeypatch.setattr(sampling, "sample", spy)
    model, tok = load_model_and_tokenizer(
        "tiny", tiny=TinySize(hidden_size=32, intermediate_size=64)
    )
    ex = ArithTask(num_train=4, num_eval=4, max_operand=4).eval_examples()
    cfg = RLConfig(num_generations=2, max_new_tokens=4, top_p=0.7, temperature=0.9)
    out = grad_cosine(model, tok, ArithTask(max_operand=4), ex, ex, cfg, 32)
    assert seen == [(0.7, 0.9)] and out["grad_norm_sft"] > 0


def test_read_metrics_gives_old_names_their_new_ones(tmp_path):
    from postcouple.train.metrics import read_metrics

    (tmp_path / "metrics.jsonl").write_text(
        '{"kind": "eval", "step": 0, "kl_ref": 0.5}\n{"kind": "train", "step": 1}\n'
    )
    recs = read_metrics(tmp_path)
    assert recs[0] == {"kind": "eval", "step": 0, "kl_init": 0.5} and recs[1]["step"] == 1


def test_train_cli_threads(monkeypatch):
    from postcouple.train.cli import set_threads

    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        torch.set_num_threads(2)
        set_threads(None)
        assert torch.get_num_threads() == 1  # pinned without OMP_NUM_THREADS
        set_threads(2)
        assert torch.get_num_threads() == 2  # --threads wins
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        set_threads(None)
        assert torch.get_num_threads() == 2  # OMP_NUM_THREADS is left to torch
    finally:
        torch.set_num_threads(before)
    from postcouple.cli import main as cli_main

    assert cli_main(["train", "--threads", "0"]) == 2  # one line naming --threads
