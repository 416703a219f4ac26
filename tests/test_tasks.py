import math

import numpy as np
import pytest

from postcouple.tasks import get_task
from postcouple.tasks.arith import FORMATS, ArithTask


def test_arith_examples_and_verifier():
    t = ArithTask(seed=3, num_train=500, num_eval=50, wrong_fraction=0.3)
    ex = t.train_examples()
    assert len(ex) == 500 and len(t.eval_examples()) == 50
    for e in ex[:100]:
        a, b = e.prompt[:-1].split("+")
        assert e.answer == str(int(a) + int(b))
        wrong = e.meta["wrong"]
        r = t.reward([e.response], [e])[0]
        assert r == float(e.meta["format"] == "tag" and not wrong)
    frac_wrong = np.mean([e.meta["wrong"] for e in ex])
    assert 0.2 < frac_wrong < 0.4


@pytest.mark.parametrize(
    ("reward_type", "completion", "expected"),
    [
        ("correct_and_format", "<a>7</a>", 1.0),
        ("correct_and_format", " <a>7</a>\n", 1.0),
        ("correct_and_format", "<a>8</a>", 0.0),
        ("correct_and_format", "7", 0.0),
        ("correct_and_format", "<a>7</a>x", 0.0),
        ("strict_format", "<a>8</a>", 1.0),
        ("strict_format", "8", 0.0),
        ("correct", "ans 7", 1.0),
        ("correct", "<a>7</a>", 1.0),
        ("correct", "6", 0.0),
        ("correct", "", 0.0),
    ],
)
def test_rewards(reward_type, completion, expected):
    t = ArithTask(num_train=1, num_eval=1, reward_type=reward_type)
    from postcouple.tasks.base import Example

    assert t.reward([completion], [Example("3+4=", "", "7")])[0] == expected


def test_expert_distribution_is_exact():
    t = ArithTask(
        seed=0,
        num_train=20000,
        num_eval=4000,
        wrong_fraction=0.2,
        max_operand=4,
        formats={"tag": 0.25, "plain": 0.75},
    )
    e = t.eval_examples()[0]
    dist = t.expert_distribution(e)
    assert math.isclose(sum(dist.values()), 1.0)
    # the empirical frequencies of responses to one prompt match p_D
    same = [x.response for x in t.train_examples() if x.prompt == e.prompt]
    assert len(same) > 50
    for resp, p in dist.items():
        emp = same.count(resp) / len(same)
        assert abs(emp - p) < 4 * math.sqrt(p * (1 - p) / len(same)) + 1e-9
    assert set(same) <= set(dist)
    assert t.expert_logprob(e) == math.log(dist[e.response])
    assert math.isclose(t.expert_reward_rate(), 0.8 * 0.25, abs_tol=0.03)


def test_clean_expert_always_earns_the_reward():
    t = ArithTask(formats={"tag": 1.0}, wrong_fraction=0.0, num_train=200, num_eval=200)
    assert t.expert_reward_rate() == 1.0


@pytest.mark.parametrize(
    "kw",
    [
        {"max_operand": 0},
        {"wrong_fraction": 1.0},
        {"formats": {}},
        {"formats": {"nope": 1}},
        {"formats": {"tag": -1}},
        {"reward_type": "x"},
        {"strict_format": "x"},
    ],
)
def test_bad_options(kw):
    with pytest.raises(ValueError):
        ArithTask(num_train=1, num_eval=1, **kw)


def test_registry():
    assert get_task("arith", num_train=2, num_eval=2).name == "arith"
    with pytest.raises(ValueError, match="valid"):
        get_task("nope")
    with pytest.raises(TypeError, match="arith"):
        get_task("arith", bogus=1)
    assert set(FORMATS) >= {"tag", "plain"}


def test_arith_expert_solutions_are_expert_samples():
    t = ArithTask(seed=0, num_train=50, wrong_fraction=0.3)
    ex = t.train_examples()
    rng = np.random.default_rng(0)
    sols = t.expert_solutions(ex, rng)
    assert len(sols) == len(ex)
    for e, s in zip(ex, sols):
        assert s in t.expert_distribution(e)  # always something the expert can write
    # fresh samples, not the stored responses: some differ
    assert any(s != e.response for e, s in zip(ex, sols))
    one = t.expert_solution(ex[0], np.random.default_rng(3))
    assert one == t.expert_solutions(ex[:1], np.random.default_rng(3))[0]


@pytest.mark.parametrize(
    "name,sub,kw",
    [
        ("gsm8k", "gsm8k", {"num_train": 5, "num_eval": 5}),
        ("math", "math500/test.jsonl", {"num_eval": 5}),
        ("cola", "cola", {"num_train": 5, "num_eval": 5}),
    ],
)
def test_data_tasks_give_the_reference_solution(name, sub, kw, data_dir):
    t = get_task(name, path=str(data_dir / sub), **kw)
    ex = t.train_examples()[:5]
    sols = t.expert_solutions(ex, None)
    assert sols == [e.response for e in ex] == [t.expert_solution(e) for e in ex]
    # the reference solution earns the reward (GSM8K: '#### N'; MATH: \boxed{}; CoLA: the tag)
    assert t.reward(sols, ex).mean() >= 0.6
    if name == "cola":
        assert all(
            s in ("<answer>acceptable</answer>", "<answer>unacceptable</answer>") for s in sols
        )
