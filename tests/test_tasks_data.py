"""Real-data tasks: CoLA (the paper's task), GSM8K, MATH, generic JSONL; where data comes from.

The real files live in ../shared/data beside the repo (tests skip without them);
the loading tests (local path, offline Hub) make their own small files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli_run import run_postcouple
from postcouple.tasks import get_task
from postcouple.tasks.base import Example
from postcouple.tasks.data import ColaTask, Gsm8kTask, JsonlTask, MathTask, MissingDataError


def test_cola_loads_the_real_files(data_dir):
    t = get_task("cola", path=str(data_dir / "cola"), num_eval=None)
    assert len(t.train_examples()) == 8551 and len(t.eval_examples()) == 1043
    frac = sum(e.answer == "acceptable" for e in t.train_examples()) / 8551
    assert 0.6 < frac < 0.8  # CoLA is ~70% acceptable
    ex = t.eval_examples()[0]
    assert ex.response == f"<answer>{ex.answer}</answer>" and "Sentence:" in ex.prompt
    # the expert always earns the strict reward; the other label never does
    other = "unacceptable" if ex.answer == "acceptable" else "acceptable"
    assert t.reward([ex.response, f"<answer>{other}</answer>"], [ex, ex]).tolist() == [1.0, 0.0]


@pytest.mark.parametrize(
    ("reward_type", "completion", "expected"),
    [
        ("correct_and_format", "<answer>acceptable</answer>", 1.0),
        ("correct_and_format", "  <answer> Acceptable </answer>\n", 1.0),
        ("correct_and_format", "I think <answer>acceptable</answer>", 0.0),
        ("correct_and_format", "acceptable", 0.0),
        ("strict_format", "<answer>unacceptable</answer>", 1.0),
        ("correct", "it is acceptable.", 1.0),
        ("correct", "x <answer>unacceptable</answer>", 0.0),
        ("correct", "", 0.0),
    ],
)
def test_cola_rewards(reward_type, completion, expected, data_dir):
    t = ColaTask(path=str(data_dir / "cola"), reward_type=reward_type, num_train=5, num_eval=5)
    ex = Example("p", "", "acceptable")
    assert t.reward([completion], [ex])[0] == expected


def test_cola_bad_input(tmp_path):
    with pytest.raises(MissingDataError, match="--task-path.*train.tsv and dev.tsv"):
        ColaTask(path=str(tmp_path))
    (tmp_path / "train.tsv").write_text("a\t2\t\tbad label\n")
    (tmp_path / "dev.tsv").write_text("a\t1\t\tfine\n")
    with pytest.raises(ValueError, match="0/1 label"):
        ColaTask(path=str(tmp_path))
    with pytest.raises(ValueError, match="reward_type"):
        ColaTask(path=str(tmp_path), reward_type="x")


def test_jsonl_task(tmp_path):
    f = tmp_path / "d.jsonl"
    rows = [{"q": f"{i}?", "a": f"<answer>{i}</answer>", "gold": str(i)} for i in range(10)]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    t = JsonlTask(
        path=str(f), prompt_field="q", response_field="a", answer_field="gold", num_eval=3
    )
    assert len(t.train_examples()) == 7 and len(t.eval_examples()) == 3
    e = t.eval_examples()[0]
    assert t.reward([e.response, "<answer>nope</answer>"], [e, e]).tolist() == [1.0, 0.0]
    (tmp_path / "bad.jsonl").write_text('{"q": 1}\n')
    with pytest.raises(ValueError, match="missing field"):
        JsonlTask(path=str(tmp_path / "bad.jsonl"), prompt_field="q")
    with pytest.raises(MissingDataError, match="--task-path"):
        JsonlTask()


@pytest.mark.parametrize(
    "preset, task", [("qwen3-0.6b-cola", "cola"), ("qwen3-0.6b-gsm8k", "gsm8k")]
)
def test_paper_preset_runs_end_to_end_with_the_tiny_model(tmp_path, data_dir, preset, task):
    """`--preset qwen3-0.6b-{cola,gsm8k} --model tiny`: the real-data presets, a few steps."""
    out = tmp_path / task
    r = run_postcouple(
        "coupling",
        "--preset",
        preset,
        "--model",
        "tiny",
        "--task-path",
        str(data_dir / task),
        "--out",
        str(out),
        "--scale",
        "0.01",
        "--seeds",
        "0",
        "--no-progress",
        "--set",
        "eval.num_examples=8",
        "--set",
        "eval.num_prompts=4",
        "--set",
        "eval.num_samples=2",
        "--set",
        "eval.probe_examples=8",
        "--set",
        "eval.probe_prompts=2",
        "--set",
        "rl.max_new_tokens=8",
        "--set",
        "rl.num_prompts=2",
        "--set",
        "rl.num_generations=2",
        "--set",
        "sft.batch_size=4",
        cwd=str(tmp_path),
    )
    assert r.returncode == 0, r.stderr[-3000:]
    summ = json.loads((out / "summary.json").read_text())
    assert summ["preset"] == preset and "sft_then_rl" in summ
    cfg = (out / "seed0" / "sft_rl" / "config.toml").read_text()
    assert f'name = "{task}"' in cfg and 'name = "tiny"' in cfg


def test_gsm8k_task_rewards_with_the_rust_verifier(data_dir):
    from postcouple.tasks import get_task

    t = get_task("gsm8k", path=str(data_dir / "gsm8k"), num_train=50, num_eval=20)
    assert len(t.train_examples()) == 50 and len(t.eval_examples()) == 20
    ex = t.eval_examples()
    assert "<<" not in ex[0].response and "####" in ex[0].response
    n = [int(e.answer) for e in ex]
    comps = (
        [e.response for e in ex]
        + [f"The answer is {k:,}." for k in n]
        + [f"\\boxed{{{k + 1}}}" for k in n]
    )
    r = t.reward(comps, ex * 3)
    assert r[:40].min() == 1.0 and r[40:].max() == 0.0
    with pytest.raises(ValueError, match="completions"):
        t.reward(["x"], ex)


def test_math_task_rewards_boxed_answers(data_dir):
    from postcouple.tasks import get_task

    t = get_task("math", path=str(data_dir / "math500" / "test.jsonl"), num_eval=50)
    assert len(t.train_examples()) == 450 and len(t.eval_examples()) == 50
    ex = t.eval_examples()
    r = t.reward([e.response for e in ex] + ["no answer"] * len(ex), ex * 2)
    assert r[:50].mean() >= 0.98 and r[50:].max() == 0.0


def test_gsm8k_preset_trains_a_few_steps_on_the_tiny_model(tmp_path, data_dir):
    """`qwen3-0.6b-gsm8k` with `--model tiny`: SFT then RL steps scored by the Rust verifier."""
    from postcouple.coupling.presets import PRESETS
    from postcouple.train.engine import run

    cfg = PRESETS["qwen3-0.6b-gsm8k"].config(
        model={"name": "tiny", "device": "cpu"},
        task={
            "name": "gsm8k",
            "options": {"path": str(data_dir / "gsm8k"), "num_train": 32, "num_eval": 8},
        },
        sft={"batch_size": 4, "max_length": 256, "learning_rate": 1e-3},
        rl={"num_prompts": 2, "num_generations": 2, "max_new_tokens": 8},
        eval={
            "num_examples": 4,
            "num_prompts": 2,
            "num_samples": 2,
            "grad_cosine": False,
            "interval": 2,
        },
    )
    cfg.schedule, cfg.out, cfg.checkpoint_interval = "sft:2,rl:2", str(tmp_path / "g"), 10
    last = run(cfg)
    assert "reward" in last and 0.0 <= last["reward"] <= 1.0


# -- where the data comes from: a local path, else the Hub, else a clear error --


def _small_files(root: Path) -> None:
    cola = root / "cola"
    cola.mkdir()
    rows = [f"src{i}\t{i % 2}\t\tsentence {i} ." for i in range(6)]
    (cola / "train.tsv").write_text("\n".join(rows) + "\n")
    (cola / "dev.tsv").write_text("\n".join(rows[:3]) + "\n")
    gsm = root / "gsm8k"
    gsm.mkdir()
    q = [
        {"question": f"{i} + 1?", "answer": f"{i} + 1 = <<{i}+1={i + 1}>>{i + 1}\n#### {i + 1}"}
        for i in range(4)
    ]
    for split in ("train", "test"):
        (gsm / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in q) + "\n")
    m = [{"problem": f"{i}?", "solution": f"\\boxed{{{i}}}", "answer": str(i)} for i in range(8)]
    (root / "math.jsonl").write_text("\n".join(json.dumps(r) for r in m) + "\n")


def test_tasks_load_from_a_local_path(tmp_path):
    _small_files(tmp_path)
    cola = ColaTask(path=str(tmp_path / "cola"), num_eval=None)
    assert len(cola.train_examples()) == 6 and len(cola.eval_examples()) == 3
    assert {e.meta["source"] for e in cola.train_examples()} == {f"src{i}" for i in range(6)}
    gsm = Gsm8kTask(path=str(tmp_path / "gsm8k"))
    assert sorted(e.answer for e in gsm.eval_examples()) == ["1", "2", "3", "4"]
    for e in gsm.train_examples():
        assert e.response.endswith(f"#### {e.answer}") and "<<" not in e.response
    math = MathTask(path=str(tmp_path / "math.jsonl"), num_eval=2)
    assert len(math.train_examples()) == 6 and len(math.eval_examples()) == 2
    # a folder holding test.jsonl is accepted too
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "test.jsonl").write_text((tmp_path / "math.jsonl").read_text())
    assert len(MathTask(path=str(tmp_path / "m"), num_eval=2).eval_examples()) == 2


@pytest.mark.parametrize("task", ["cola", "gsm8k", "math"])
def test_a_missing_local_path_names_the_flag(tmp_path, task):
    with pytest.raises(MissingDataError, match=r"--task-path \(task.options.path\): no "):
        get_task(task, path=str(tmp_path / "nowhere"))


def _offline_env(tmp_path: Path) -> dict[str, str]:
    # an empty Hugging Face cache and no network: the Hub cannot answer
    return dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        HF_HOME=str(tmp_path / "hf"),
        HF_DATASETS_CACHE=str(tmp_path / "hf" / "datasets"),
        OMP_NUM_THREADS="1",
    )


def test_offline_without_a_path_is_a_clear_error(tmp_path):
    pytest.importorskip("datasets")
    code = (
        "from postcouple.tasks.data import MissingDataError, Gsm8kTask\n"
        "try:\n    Gsm8kTask()\nexcept MissingDataError as e:\n    print('ERR', e)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_offline_env(tmp_path)
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("ERR gsm8k: no --task-path (task.options.path) given")
    assert "openai/gsm8k" in r.stdout and "offline" in r.stdout


@pytest.mark.parametrize("cmd", ["train", "coupling"])
def test_offline_cli_error_is_one_line_and_a_path_fixes_it(tmp_path, cmd):
    pytest.importorskip("datasets")
    args = (
        ["train", "--task", "cola", "--schedule", "sft:1", "--out", str(tmp_path / "r")]
        if cmd == "train"
        else [
            "coupling",
            "--preset",
            "qwen3-0.6b-cola",
            "--model",
            "tiny",
            "--out",
            str(tmp_path / "c"),
        ]
    )
    env = _offline_env(tmp_path)
    r = subprocess.run(
        [sys.executable, "-m", "postcouple", *args, "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(tmp_path),
    )
    assert r.returncode == 2, r.stderr[-2000:]
    (line,) = r.stderr.splitlines()
    assert line.startswith(f"postcouple {cmd}: error: cola: no --task-path"), line
    assert "nyu-mll/glue" in line and "train.tsv and dev.tsv" in line
