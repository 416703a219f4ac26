import subprocess
import sys

from postcouple.cli import main


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in ("coupling", "train", "bench"):
        assert cmd in out


def test_unknown_command_is_an_error(capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_python_dash_m_works():
    r = subprocess.run(
        [sys.executable, "-m", "postcouple", "--version"], capture_output=True, text=True
    )
    assert r.returncode == 0 and r.stdout.startswith("postcouple ")


def test_bench_command_prints_side_by_side_ratios(capsys):
    from postcouple.cli import main

    assert main(["bench", "--n", "300", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    for case in ("advantages.grpo", "packing.pack", "rewards.extract_answer"):
        line = next(x for x in out.splitlines() if case in x)
        assert line.rstrip().endswith("x"), line
