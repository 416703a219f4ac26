"""The `postcouple` command: user errors are one line and exit 2, help is plain, threads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from postcouple.cli import _COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]


def _env(**kw: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in kw or kw[k] is not None}
    env.update({k: v for k, v in kw.items() if v is not None})
    return env


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in ("coupling", "train", "config", "bench"):
        assert cmd in out


def test_unknown_command_is_an_error(capsys):
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'frobnicate'" in err and "coupling" in err
    assert err.count("\n") == 1


def test_python_dash_m_works():
    r = subprocess.run(
        [sys.executable, "-m", "postcouple", "--version"], capture_output=True, text=True
    )
    assert r.returncode == 0 and r.stdout.startswith("postcouple ")


def _one_line_error(capsys, argv: list[str], *needles: str) -> str:
    assert main(argv) == 2
    cap = capsys.readouterr()
    lines = cap.err.splitlines()
    assert len(lines) == 1, cap.err
    assert lines[0].startswith(f"postcouple {argv[0]}: error: "), lines[0]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["train", "--task", "nope"], ["--task", "'nope'", "arith", "gsm8k"]),
        (["train", "--schedule", "sft:10,rl"], ["--schedule", "position 7"]),
        (["train", "--schedule", "alt(sft:1)"], ["--schedule", ")xN"]),
        (["train", "--set", "rl.nope=1"], ["--set", "'nope'", "learning_rate"]),
        (["train", "--set", "nope"], ["--set", "key=value"]),
        (["train", "--set", "rl.beta=true"], ["--set", "rl.beta"]),
        (["train", "--model", "./no/such/model"], ["--model", "tiny", "qwen3-0.6b-arch"]),
        (["train", "--task", "gsm8k", "--task-path", "/no/such/dir"], ["--task-path"]),
        (["train", "--task", "jsonl"], ["--task-path"]),
        (["train", "--set", "task.options.nope=1"], ["task.options", "'nope'", "max_operand"]),
        (["train", "--steps", "3"], ["--steps"]),
        (["train", "--init-from", "no/such/run"], ["--init-from", "run directory"]),
        (["coupling", "--preset", "nope"], ["--preset", "tiny-arith", "qwen3-0.6b-cola"]),
        (["coupling", "--workers", "0"], ["--workers"]),
        (["coupling", "--seeds", "a,b"], ["--seeds"]),
        (["coupling", "--model", "./no/such/model"], ["--model"]),
        (["config", "--preset", "nope"], ["--preset", "tiny-arith"]),
        (["config"], ["--show"]),
        (["bench", "--n", "5"], ["--n", ">= 100"]),
    ],
)
def test_user_errors_are_one_line_naming_the_flag(capsys, tmp_path, monkeypatch, argv, needles):
    monkeypatch.chdir(tmp_path)  # default --out folders land here, and hold nothing
    _one_line_error(capsys, argv, *needles)


def test_config_file_errors_name_the_flag(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('schedule = "sft:1"\n[rl]\nbetaa = 0.1\n')
    _one_line_error(capsys, ["train", "--config", str(bad)], "--config", "'betaa'", "beta")
    bad.write_text("schedule = \n")
    _one_line_error(capsys, ["train", "--config", str(bad)], "--config")
    _one_line_error(capsys, ["train", "--config", str(tmp_path / "none.toml")], "--config")


def test_out_resume_and_overwrite(capsys, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("")
    _one_line_error(capsys, ["train", "--out", str(run)], "--out", "--overwrite", "--resume")
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(capsys, ["train", "--out", str(empty), "--resume"], "--resume", "holds no")
    _one_line_error(
        capsys, ["train", "--out", str(tmp_path / "new"), "--resume"], "--resume", "holds no"
    )
    _one_line_error(
        capsys, ["train", "--out", str(run), "--resume", "--overwrite"], "--resume", "--overwrite"
    )
    exp = tmp_path / "exp"
    (exp / "seed0" / "base").mkdir(parents=True)
    _one_line_error(capsys, ["coupling", "--out", str(exp)], "--out", "--overwrite")
    _one_line_error(
        capsys, ["coupling", "--out", str(tmp_path / "e2"), "--resume"], "--resume", "holds no"
    )


def test_an_error_has_no_traceback_in_a_real_process(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "postcouple", "train", "--task", "nope"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "postcouple train: error: --task: unknown task 'nope'; valid: "
        "arith, cola, gsm8k, jsonl, math"
    ]


@pytest.mark.parametrize("cmd", list(_COMMANDS))
def test_help_is_plain_and_every_option_has_help(capsys, monkeypatch, cmd):
    import argparse

    parsers: list[argparse.ArgumentParser] = []
    original = argparse.ArgumentParser.parse_args

    def recording(self, *args, **kwargs):
        parsers.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", recording)
    with pytest.raises(SystemExit) as e:
        main([cmd, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: postcouple {cmd}")
    for markup in ("``", ":func:", ":class:", ":mod:", "::\n"):
        assert markup not in out, (markup, out)
    (parser,) = parsers
    for action in parser._actions:
        assert action.help and action.help.strip(), f"{cmd} {action.option_strings}: no help"


def test_every_option_needs_help():
    from postcouple._cli import ArgumentParser

    with pytest.raises(TypeError, match="--x: every option needs help"):
        ArgumentParser(prog="p").add_argument("--x")


def test_plain_strips_rest():
    from postcouple._cli import plain

    assert plain("see :func:`postcouple.train.run` and ``--out``::") == (
        "see postcouple.train.run and --out:"
    )


@pytest.mark.parametrize("preset", [None, "tiny-arith", "qwen3-0.6b-gsm8k"])
def test_config_show_round_trips_through_config(capsys, tmp_path, preset):
    from postcouple.coupling.presets import PRESETS
    from postcouple.train.config import RunConfig, load_toml, to_dict

    assert main(["config", "--show"] + (["--preset", preset] if preset else [])) == 0
    text = capsys.readouterr().out
    want = PRESETS[preset].config() if preset else RunConfig()
    f = tmp_path / "run.toml"
    f.write_text(text)
    assert to_dict(load_toml(f)) == to_dict(want)
    for section in ("[model]", "[task]", "[sft]", "[rl]", "[joint]", "[eval]"):
        assert section in text
    # and `postcouple train --config` accepts it (stopped by the next check: --out holds a run)
    out = tmp_path / "held"
    out.mkdir()
    (out / "metrics.jsonl").write_text("")
    _one_line_error(capsys, ["train", "--config", str(f), "--out", str(out)], "--out")


def test_config_show_applies_sets(capsys):
    assert main(["config", "--show", "--set", "rl.beta=0.25", "--set", "seed=3"]) == 0
    text = capsys.readouterr().out
    assert "beta = 0.25" in text and "seed = 3" in text


def _threads(env: dict[str, str], *args: str) -> int:
    code = (
        "import sys; from postcouple.cli import main; "
        f"main(['bench', '--n', '100', '--repeat', '1', *{list(args)!r}]); "
        "import torch; print('threads', torch.get_num_threads())"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    return int(r.stdout.split("threads")[-1])


def test_cli_pins_torch_to_one_thread_unless_told():
    pytest.importorskip("torch")
    assert _threads(_env(OMP_NUM_THREADS=None, MKL_NUM_THREADS=None)) == 1
    if (os.cpu_count() or 1) >= 2:  # torch caps threads at the core count
        assert _threads(_env(OMP_NUM_THREADS="2", MKL_NUM_THREADS=None)) == 2


def test_threads_flag_sets_the_environment(monkeypatch):
    from postcouple._cli import default_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    default_threads(["--out", "x"])
    assert os.environ["OMP_NUM_THREADS"] == "1"
    default_threads(["--threads", "3"])
    assert os.environ["OMP_NUM_THREADS"] == "3" and os.environ["MKL_NUM_THREADS"] == "3"
    default_threads(["--threads=4"])
    assert os.environ["OMP_NUM_THREADS"] == "4"
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    default_threads([])
    assert os.environ["OMP_NUM_THREADS"] == "5"


def test_training_commands_without_torch_say_how_to_install(tmp_path):
    # a numpy-only install: torch (and the rest of the train extra) cannot be imported
    block = tmp_path / "sitecustomize.py"
    block.write_text(
        "import sys\nfor m in ('torch', 'transformers', 'tomli_w'):\n    sys.modules[m] = None\n"
    )
    env = _env(PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    # --help needs nothing but the standard library: it prints the options
    r = subprocess.run(
        [sys.executable, "-m", "postcouple", "train", "--help"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0 and "--schedule" in r.stdout, r.stderr
    run = ["train", "--model", "tiny", "--task", "arith", "--out", str(tmp_path / "run")]
    for cmd in (run, ["coupling", "--out", str(tmp_path / "c")], ["config", "--show"]):
        r = subprocess.run(
            [sys.executable, "-m", "postcouple", *cmd], capture_output=True, text=True, env=env
        )
        assert r.returncode == 2, (cmd, r.stderr)
        assert r.stderr.splitlines() == [
            f"postcouple {cmd[0]}: error: this command needs the training extras (no module "
            f"{r.stderr.split('no module ')[1].split(')')[0]}): pip install 'postcouple[train]'"
        ], r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "postcouple", "bench", "--n", "100", "--repeat", "1"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0, r.stderr


def test_bench_leads_with_the_strongest_peer(capsys):
    assert main(["bench", "--n", "300", "--repeat", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    i = next(i for i, x in enumerate(lines) if "advantages.grpo" in x)
    assert "numpy, vectorised" in lines[i + 1] and "Python loop" in lines[i + 2]
    j = next(i for i, x in enumerate(lines) if "rewards.math_reward" in x)
    assert "math-verify" in lines[j + 1]
    for x in lines:
        if " vs " in x and "not installed" not in x:
            assert x.rstrip().endswith("x"), x


def test_coupling_overwrite_clears_the_experiment_and_resume_keeps_it(tmp_path, monkeypatch):
    import postcouple.coupling.experiment as experiment
    import postcouple.coupling.report as report

    ran: list[list[str]] = []
    monkeypatch.setattr(
        experiment, "run_jobs", lambda jobs, **kw: ran.append([j.name for j in jobs])
    )
    monkeypatch.setattr(report, "write_report", lambda out, name, secs: {})
    monkeypatch.setattr(report, "table", lambda summ: "")
    exp = tmp_path / "exp"
    (exp / "seed0" / "base").mkdir(parents=True)
    (exp / "seed0" / "base" / "metrics.jsonl").write_text("{}\n")
    (exp / "summary.json").write_text("{}")
    (exp / "notes.txt").write_text("mine")
    args = ["coupling", "--out", str(exp), "--seeds", "0", "--scale", "0.01", "--no-progress"]
    assert main([*args, "--resume"]) == 0
    assert (exp / "seed0" / "base" / "metrics.jsonl").exists() and len(ran) == 1
    assert main([*args, "--overwrite"]) == 0
    assert not (exp / "seed0").exists() and not (exp / "summary.json").exists()
    assert (exp / "notes.txt").read_text() == "mine"  # only what an experiment writes goes
    assert len(ran) == 2 and "seed0/base" in ran[1]
