"""The SFT+RL methods (chord, luffy, hpt, relift, uft): losses against hand-computed
examples, the two equalities (chord = joint, luffy with E = 0 = GRPO), and each
stage end to end on the tiny model with checkpoint / resume (CPU, one thread)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from postcouple.tasks.arith import ArithTask
from postcouple.tasks.base import Example
from postcouple.train import run
from postcouple.train.chord import mu_at
from postcouple.train.config import ChordConfig, RunConfig, UFTConfig, from_dict
from postcouple.train.hpt import hpt_switch
from postcouple.train.luffy import mixed_advantages
from postcouple.train.mixed import (
    MethodState,
    expert_solutions,
    num_correct,
    phi_weights,
    schedule_progress,
    shaped_expert_loss,
    weighted_nll_backward,
)
from postcouple.train.relift import relift_buffer_push
from postcouple.train.schedule import parse_schedule
from postcouple.train.uft import hint_lengths, hint_prob

sys.path.insert(0, str(Path(__file__).parent))
from test_train import read, tiny_cfg  # noqa: E402

METHODS = ("chord", "luffy", "hpt", "relift", "uft")


def length_reward(prompts, completions, solution):
    """An extra reward that varies within a group (the untrained tiny model earns
    no task reward), so the RL losses in the equality tests are not zero."""
    return [len(c) / 8.0 for c in completions]


# -- hand-computed pieces ------------------------------------------------------------


def test_phi_weights_are_p_times_one_minus_p():
    p = torch.tensor([0.5, 0.9, 0.1, 1.0, 1e-6])
    w = phi_weights(p.log().requires_grad_())
    assert torch.allclose(w, torch.tensor([0.25, 0.09, 0.09, 0.0, 1e-6]), atol=1e-7)
    assert not w.requires_grad  # stop-gradient


class _FixedLogits(torch.nn.Module):
    """A 'model' whose logits are a parameter: gradients can be written by hand."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(logits.clone())

    def forward(self, input_ids, attention_mask=None, position_ids=None, use_cache=False):
        return SimpleNamespace(logits=self.logits)


def test_weighted_nll_gradient_by_hand():
    # 1 sequence of 3 positions, vocab 2; targets at positions 1 and 2 (position 0 is prompt)
    logits = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0], [0.0, 0.0]]])  # (1, 3, 2)
    model = _FixedLogits(logits)
    mb = {
        "input_ids": torch.tensor([[5, 0, 1]]),
        "labels": torch.tensor([[-100, 0, 1]]),  # position t predicts labels[t+1]
    }
    plain, shaped, n = weighted_nll_backward(model, [mb], phi_weights, scale=2.0)
    # predicted: target 0 from logits[0] (p = 1/2), target 1 from logits[1] (p = 1/4)
    p = np.array([0.5, 0.25])
    assert n == 2
    assert plain == pytest.approx(-np.log(p).mean(), rel=1e-6)
    phi = p * (1 - p)  # 0.25, 0.1875
    assert shaped == pytest.approx(-(phi * np.log(p)).sum() / 2, rel=1e-6)
    # d/dlogits of 2 * (1/N) sum_t -phi_t log p_t = (2/N) phi_t (softmax - onehot)
    g = model.logits.grad[0]
    want0 = 2 / 2 * phi[0] * (np.array([0.5, 0.5]) - np.array([1, 0]))
    want1 = 2 / 2 * phi[1] * (np.array([0.75, 0.25]) - np.array([0, 1]))
    assert np.allclose(g[0].numpy(), want0, atol=1e-6)
    assert np.allclose(g[1].numpy(), want1, atol=1e-6)
    assert torch.all(g[2] == 0)  # the last position predicts nothing


def test_luffy_shaped_expert_gradient_by_hand():
    gamma, A = 0.1, torch.tensor([[2.0], [-1.0]])
    p = torch.tensor([[0.5, 0.01], [0.9, 0.5]])
    lp = p.log().requires_grad_()
    loss = shaped_expert_loss(lp, A, gamma)
    assert torch.allclose(loss, -A * p / (p + gamma))
    assert loss[0, 0].item() == pytest.approx(-2 * 0.5 / 0.6)
    loss.sum().backward()
    # d/dlog p of -A p/(p+gamma) = -A gamma p / (p + gamma)^2
    want = -A * gamma * p / (p + gamma) ** 2
    assert torch.allclose(lp.grad, want, atol=1e-7)
    assert lp.grad[0, 0].item() == pytest.approx(-2 * 0.1 * 0.5 / 0.36, rel=1e-6)
    # shaping: per unit of A, a token at p = 0.01 gets ~8x the weight of the plain
    # importance ratio's gradient (p); at p = 0.5 it gets less (gamma/(p+gamma)^2 < 1)
    assert (lp.grad[0, 1] / -2.0).item() / 0.01 == pytest.approx(0.1 / 0.11**2, rel=1e-5)


def test_luffy_mixed_group_advantages_by_hand():
    # one prompt: K = 2 samples (rewards 1, 0) and E = 1 expert (reward 1); no std scaling
    a_on, a_exp = mixed_advantages(
        np.array([1.0, 0.0], np.float32),
        np.ones((2, 3), np.float32),
        np.array([1.0], np.float32),
        np.ones((1, 5), np.float32),
        K=2,
        E=1,
        estimator="grpo",
        scale_rewards="none",
    )
    assert a_on.shape == (2, 3) and a_exp.shape == (1, 5)
    assert np.allclose(a_on[:, 0], [1 / 3, -2 / 3], atol=1e-6)
    assert np.allclose(a_exp[0], 1 / 3, atol=1e-6)


def test_hpt_switch_and_correct_counts():
    r = np.array([1, 1, 0, 0, 0, 0, np.nan, 1.0, 1, 1, 1, 0.4], dtype=np.float32)
    P = num_correct(r, 4)  # NaN and 0.4 are not correct
    assert P.tolist() == [2, 1, 3]
    assert hpt_switch(P, 0).tolist() == [False, False, False]
    assert hpt_switch(np.array([0, 1, 3]), 0).tolist() == [True, False, False]
    assert hpt_switch(np.array([0, 1, 3]), 1).tolist() == [True, True, False]


def test_relift_buffer_trigger():
    buf: list[str] = []
    assert relift_buffer_push(buf, ["a", "b"], 3) is None and buf == ["a", "b"]
    assert relift_buffer_push(buf, [], 3) is None
    assert relift_buffer_push(buf, ["c", "d", "e", "f"], 3) == ["a", "b", "c"]
    assert buf == ["d", "e", "f"]  # full again: the next push triggers at once
    assert relift_buffer_push(buf, [], 3) == ["d", "e", "f"] and buf == []


def test_uft_hint_schedule_and_lengths():
    c = UFTConfig(t_hint=4, p_high=0.9, p_low=0.1)
    # p(t) = p_low + (p_high - p_low)(1 + cos(pi (t+1)/T))/2, 0 from T on
    assert [round(hint_prob(c, t), 4) for t in range(6)] == [
        round(0.1 + 0.4 * (1 + math.cos(math.pi * (t + 1) / 4)), 4) for t in range(4)
    ] + [0.0, 0.0]
    rng = np.random.default_rng(0)
    # a 10-token solution in 4 chunks: sizes 3, 3, 2, 2 -> hints end on a chunk boundary
    assert hint_lengths([10, 2, 0], 4, 1.0, rng) == [10, 2, 0]  # p = 1: the whole solution
    assert hint_lengths([10, 2, 0], 4, 0.0, rng) == [0, 0, 0]
    draws = hint_lengths([10] * 4000, 4, 0.3, rng)
    assert set(draws) <= {0, 3, 6, 8, 10}
    k = np.searchsorted([0, 3, 6, 8, 10], draws)  # chunks given
    assert k.mean() == pytest.approx(4 * 0.3, abs=0.05)  # Binomial(4, 0.3)


def test_chord_mu_schedule():
    c = ChordConfig(mu_peak=0.6, mu_valley=0.1, mu_warmup_ratio=0.25)
    mus = [mu_at(c, t, 8) for t in range(8)]
    assert mus[:2] == pytest.approx([0.3, 0.6])  # linear warmup over ceil(0.25 * 8) = 2
    assert mus[2] == pytest.approx(0.6) and mus[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(mus[2:], mus[3:]))  # cosine decay
    assert mus[2 + 5 // 2] == pytest.approx(0.1 + 0.5 * 0.5 * (1 + math.cos(math.pi * 2 / 5)))
    const = ChordConfig(mu_schedule="constant", mu_peak=0.3)
    assert {mu_at(const, t, 8) for t in range(8)} == {0.3}


def test_schedule_progress_counts_one_kind_over_alt_blocks():
    stages = parse_schedule("sft:2,alt(chord:3,rl:1)x2")
    assert schedule_progress(stages, 1, 0) == (0, 6)
    assert schedule_progress(stages, 3, 2) == (5, 6)
    assert schedule_progress(stages, 2, 0) == (0, 2)


# -- tasks' expert solutions and the configs -----------------------------------------------


def test_arith_expert_solution_samples_the_expert_distribution():
    task = ArithTask(num_train=4, max_operand=9, wrong_fraction=0.2)
    ex = task.train_examples()[0]
    rng = np.random.default_rng(1)
    draws = task.expert_solutions([ex] * 4000, rng)
    dist = task.expert_distribution(ex)
    assert set(draws) <= set(dist)
    for s, p in dist.items():
        assert draws.count(s) / 4000 == pytest.approx(p, abs=0.03)
    # the same generator state gives the same solutions (resume-exact)
    a = task.expert_solutions([ex] * 5, np.random.default_rng(7))
    assert a == task.expert_solutions([ex] * 5, np.random.default_rng(7))


def test_expert_solutions_fall_back_on_the_response():
    class Plain:
        def reward(self, completions, examples):
            return np.zeros(len(completions), np.float32)

    ex = [Example("1+1=", "2", "2")]
    assert expert_solutions(Plain(), ex, np.random.default_rng(0)) == ["2"]


def test_method_configs_from_toml_and_validated():
    cfg = from_dict(
        RunConfig,
        {
            "chord": {"mu_schedule": "constant", "mu_peak": 0.2, "phi": False},
            "luffy": {"gamma": 0.5, "num_expert": 2, "scale_rewards": "group"},
            "hpt": {"gamma": 1},
            "relift": {"buffer_size": 8},
            "uft": {"t_hint": 10, "beta": 0.01},
        },
    )
    assert cfg.chord.mu_peak == 0.2 and cfg.luffy.num_expert == 2 and cfg.uft.t_hint == 10
    with pytest.raises(ValueError, match=r"chord\.mu_schedule.*constant"):
        from_dict(RunConfig, {"chord": {"mu_schedule": "linear"}})
    with pytest.raises(ValueError, match=r"chord\.mu_peak"):
        from_dict(RunConfig, {"chord": {"mu_peak": 1.5}})
    with pytest.raises(ValueError, match=r"luffy\.gamma"):
        from_dict(RunConfig, {"luffy": {"gamma": 0}})
    with pytest.raises(ValueError, match=r"luffy\.scale_rewards"):
        from_dict(RunConfig, {"luffy": {"scale_rewards": "std"}})
    with pytest.raises(ValueError, match=r"relift\.buffer_size"):
        from_dict(RunConfig, {"relift": {"buffer_size": 0}})
    with pytest.raises(ValueError, match=r"uft\.p_low"):
        from_dict(RunConfig, {"uft": {"p_high": 0.2, "p_low": 0.5}})
    with pytest.raises(TypeError, match=r"hpt\.gamma"):
        from_dict(RunConfig, {"hpt": {"gamma": 0.5}})


def test_method_state_round_trip():
    st = MethodState(12, [Example("1+2=", "<a>3</a>", "3")])
    assert MethodState.from_dict(st.to_dict()) == st
    assert MethodState.from_dict(None) == MethodState()


# -- the two equalities ------------------------------------------------------------------


def _final_params(out: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(out / "final" / "model.safetensors"))


def _train_recs(out: Path, keys: tuple[str, ...]) -> list[dict]:
    return [{k: r.get(k) for k in keys} for r in read(out) if r["kind"] == "train"]


def test_chord_with_constant_mu_and_no_phi_equals_joint(tmp_path):
    a = tiny_cfg(tmp_path / "joint", "sft:2,joint:3")
    a.joint.mu = 0.3
    a.joint.learning_rate = 2e-3
    b = tiny_cfg(tmp_path / "chord", "sft:2,chord:3")
    b.chord = ChordConfig(mu_schedule="constant", mu_peak=0.3, phi=False, learning_rate=2e-3)
    run(a, reward_funcs=[length_reward])
    run(b, reward_funcs=[length_reward])
    keys = ("step", "lr", "loss", "rl_loss", "sft_loss_train", "reward", "entropy", "clip_frac")
    ra, rb = _train_recs(tmp_path / "joint", keys), _train_recs(tmp_path / "chord", keys)
    assert ra == rb
    assert any(r["rl_loss"] not in (None, 0.0) for r in ra[2:])  # the RL part did something
    ta = [r["expert_tokens"] for r in read(tmp_path / "joint") if r["kind"] == "train"]
    tb = [r["expert_tokens"] for r in read(tmp_path / "chord") if r["kind"] == "train"]
    assert ta == tb and ta[-1] > ta[1] > 0  # joint counts its expert batches as chord does
    pa, pb = _final_params(tmp_path / "joint"), _final_params(tmp_path / "chord")
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    ea = [r["sft_loss"] for r in read(tmp_path / "joint") if r["kind"] == "eval"]
    eb = [r["sft_loss"] for r in read(tmp_path / "chord") if r["kind"] == "eval"]
    assert ea == eb


def test_chord_phi_changes_the_step(tmp_path):
    a = tiny_cfg(tmp_path / "a", "chord:2")
    a.chord = ChordConfig(mu_schedule="constant", mu_peak=0.5, phi=False)
    b = tiny_cfg(tmp_path / "b", "chord:2")
    b.chord = ChordConfig(mu_schedule="constant", mu_peak=0.5, phi=True)
    run(a)
    run(b)
    ta = [r for r in read(tmp_path / "a") if r["kind"] == "train"]
    tb = [r for r in read(tmp_path / "b") if r["kind"] == "train"]
    # same plain SFT loss at step 1 (same weights, same batch), different descent
    assert ta[0]["sft_loss_train"] == tb[0]["sft_loss_train"]
    assert tb[0]["sft_loss_phi"] < tb[0]["sft_loss_train"]  # phi <= 1/4
    assert ta[1]["sft_loss_train"] != tb[1]["sft_loss_train"]


@pytest.mark.parametrize("iters,mbs", [(1, 1), (2, 2)])
def test_luffy_without_experts_equals_grpo(tmp_path, iters, mbs):
    cfgs = []
    for kind in ("rl", "luffy"):
        c = tiny_cfg(tmp_path / kind, f"sft:2,{kind}:3")
        c.rl.num_iterations, c.rl.num_mini_batches = iters, mbs
        c.rl.learning_rate = c.luffy.learning_rate = 2e-3
        c.luffy.num_expert = 0
        c.luffy.scale_rewards = c.rl.scale_rewards  # GRPO's "group"
        run(c, reward_funcs=[length_reward])
        cfgs.append(c)
    keys = ("step", "lr", "loss", "reward", "reward_std", "entropy", "clip_frac")
    ra, rb = _train_recs(tmp_path / "rl", keys), _train_recs(tmp_path / "luffy", keys)
    assert ra == rb
    assert any(r["loss"] != 0.0 for r in ra[2:])
    pa, pb = _final_params(tmp_path / "rl"), _final_params(tmp_path / "luffy")
    assert all(torch.equal(pa[k], pb[k]) for k in pa)


# -- each stage end to end, with checkpoint / resume ---------------------------------------------


class _Stop(Exception):
    pass


@pytest.mark.parametrize("kind", METHODS)
def test_method_runs_and_resumes_exactly(tmp_path, kind):
    sched = f"sft:2,{kind}:4"

    def cfg(out):
        c = tiny_cfg(out, sched, checkpoint_interval=3)
        c.relift.buffer_size = 6
        c.uft.t_hint = 3
        c.eval.interval = 2
        return c

    run(cfg(tmp_path / "ref"), reward_funcs=[length_reward])

    def stop(rec, ctx):  # "killed" after the evaluation at step 4 (checkpoints: 2, 3)
        if rec["step"] == 4:
            raise _Stop

    with pytest.raises(_Stop):
        run(cfg(tmp_path / "cut"), hooks=[stop], reward_funcs=[length_reward])
    run(cfg(tmp_path / "cut"), resume=True, reward_funcs=[length_reward])
    ref, cut = read(tmp_path / "ref"), read(tmp_path / "cut")
    assert cut == ref
    train = [r for r in ref if r["kind"] == "train"]
    assert [r["stage"] for r in train] == ["sft"] * 2 + [kind] * 4
    tokens = [r["expert_tokens"] for r in train]
    assert all(b >= a for a, b in zip(tokens, tokens[1:])) and tokens[0] > 0  # cumulative
    for r in train[2:]:
        assert math.isfinite(r["loss"]) and "reward" in r
    evals = [r for r in ref if r["kind"] == "eval"]
    assert all(math.isfinite(r["sft_loss"]) for r in evals)  # the plain held-out NLL
    assert (tmp_path / "ref" / "final" / "model.safetensors").exists()


def test_relift_takes_an_sft_step_when_the_buffer_fills(tmp_path):
    c = tiny_cfg(tmp_path / "r", "relift:4")
    c.relift.buffer_size = 6  # 4 prompts a step, none solved by the untrained model
    run(c)
    train = [r for r in read(tmp_path / "r") if r["kind"] == "train"]
    assert [r["relift_added"] for r in train] == [4, 4, 4, 4]
    assert [r["sft_step"] for r in train] == [0, 1, 1, 0]
    assert [r["relift_buffer"] for r in train] == [4, 2, 0, 4]
    grow = np.diff([0] + [r["expert_tokens"] for r in train])
    assert grow[0] == 0 and grow[3] == 0 and grow[1] > 6 and grow[2] > 6  # 6 solutions + eos


def test_hpt_sft_on_unsolved_prompts(tmp_path):
    c = tiny_cfg(tmp_path / "h", "hpt:2")
    run(c)
    train = [r for r in read(tmp_path / "h") if r["kind"] == "train"]
    # the untrained model solves nothing: P = 0 <= gamma for every prompt -> all SFT
    assert [r["frac_sft"] for r in train] == [1.0, 1.0]
    assert all(r["sft_loss_train"] > 0 and r["rl_loss"] == 0.0 for r in train)
    assert train[0]["loss"] == train[0]["sft_loss_train"]


def test_hpt_rl_on_solved_prompts():
    """A task that counts every completion of some prompts correct: those go to RL."""
    from postcouple.models import TinySize, load_model_and_tokenizer
    from postcouple.train.hpt import hpt_step
    from postcouple.train.mixed import StepInputs

    torch.manual_seed(0)
    model, tok = load_model_and_tokenizer(
        "tiny",
        seed=0,
        tiny=TinySize(
            hidden_size=32, intermediate_size=64, num_attention_heads=2, num_key_value_heads=1
        ),
    )
    base = ArithTask(num_train=8, max_operand=4)

    class Half:
        def reward(self, completions, examples):  # prompts starting "0+" are always solved
            return np.array([e.prompt.startswith("0+") for e in examples], np.float32)

        def expert_solutions(self, examples, rng):
            return base.expert_solutions(examples, rng)

    prompts = [Example("0+1=", "<a>1</a>", "1"), Example("2+2=", "<a>4</a>", "4")]
    cfg = RunConfig()
    cfg.rl.num_generations, cfg.rl.max_new_tokens = 3, 6
    steps = []
    x = StepInputs(
        model, None, tok, Half(), cfg, lambda: steps.append(1), torch.device("cpu"), None, (),
        (0, 1), np.random.default_rng(0), MethodState(),
    )  # fmt: skip
    st = hpt_step(x, prompts)
    assert steps == [1]  # one optimizer step for both parts
    assert st["frac_sft"] == 0.5 and st["num_correct"] == 1.5
    # the SFT part is the expert solution of "2+2=" only: its characters + eos
    assert st["expert_tokens_step"] in {len(s) + 1 for s in base.expert_distribution(prompts[1])}
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_uft_hints_fade_by_t_hint(tmp_path):
    c = tiny_cfg(tmp_path / "u", "uft:5")
    c.uft.t_hint = 3
    run(c)
    train = [r for r in read(tmp_path / "u") if r["kind"] == "train"]
    assert [r["hint_prob"] for r in train] == pytest.approx([hint_prob(c.uft, t) for t in range(5)])
    assert [r["hint_prob"] for r in train][3:] == [0.0, 0.0]
    assert all(r["hint_length"] == 0 for r in train[3:])
    assert train[0]["hint_length"] > 0 and train[0]["hint_nll"] > 0
    tokens = [r["expert_tokens"] for r in train]
    assert tokens[2] == tokens[3] == tokens[4] and tokens[0] > 0


def test_cli_runs_a_method_schedule(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cfg = tiny_cfg(tmp_path / "c", "sft:1,luffy:1")
    from postcouple.train.config import dump_toml

    dump_toml(cfg, tmp_path / "c.toml")
    cmd = [sys.executable, "-m", "postcouple", "train", "--config", str(tmp_path / "c.toml")]
    cmd += ["--schedule", "sft:1,alt(luffy:1,chord:1)x1", "--no-progress"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    stages = [x["stage"] for x in read(tmp_path / "c") if x["kind"] == "train"]
    assert stages == ["sft", "luffy", "chord"]


def test_doctests():
    import doctest

    import postcouple.tasks.arith
    import postcouple.train.chord
    import postcouple.train.luffy
    import postcouple.train.mixed
    import postcouple.train.relift
    import postcouple.train.uft

    for mod in (
        postcouple.train.mixed,
        postcouple.train.chord,
        postcouple.train.luffy,
        postcouple.train.relift,
        postcouple.train.uft,
        postcouple.tasks.arith,
    ):
        res = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert res.failed == 0 and res.attempted > 0, mod.__name__


def test_luffy_expert_rows_packed_equal_padded(tmp_path):
    recs = []
    for packing in (False, True):
        c = tiny_cfg(tmp_path / str(packing), "luffy:2")
        c.rl.packing = packing
        c.luffy.num_expert = 2
        run(c, reward_funcs=[length_reward])
        recs.append([r for r in read(tmp_path / str(packing)) if r["kind"] == "train"])
    for a, b in zip(*recs):
        assert a["reward"] == b["reward"] and a["expert_reward"] == b["expert_reward"]
        for k in ("loss", "loss_expert", "expert_prob"):
            assert a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-6), k
    assert recs[0][-1]["expert_tokens"] > 0
