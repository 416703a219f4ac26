"""The ``postcouple`` command.

Subcommands are owned by their modules so the CLI stays thin:

- ``postcouple coupling``: the main job, the paper's two effects measured
  (``postcouple.coupling.cli``);
- ``postcouple train``: run any SFT/RL schedule (``postcouple.train.cli``);
- ``postcouple config``: print a run config as TOML (``postcouple.train.config_cli``);
- ``postcouple bench``: the compiled core against its peers (``postcouple.bench.cli``).

Here, once for all of them: one torch thread per process unless
``OMP_NUM_THREADS`` or ``--threads`` says otherwise; a user error
(:class:`postcouple._cli.UsageError`) is one line and exit status 2; a command
that needs the ``train`` extra says how to install it (exit status 2).
"""

from __future__ import annotations

import importlib
import sys

from postcouple._cli import UsageError, default_threads, missing_extra

_COMMANDS = {
    "coupling": (
        "postcouple.coupling.cli",
        "reproduce the paper's two effects and compare schedules",
    ),
    "compare": ("postcouple.coupling.compare", "rank SFT+RL methods on one Pareto front"),
    "train": ("postcouple.train.cli", "train a model through a schedule of SFT/RL stages"),
    "config": (
        "postcouple.train.config_cli",
        "print the default run config (or a preset's) as TOML",
    ),
    "bench": ("postcouple.bench.cli", "time the Rust core against its peers (one minute)"),
}


def _usage() -> str:
    lines = ["usage: postcouple COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in _COMMANDS.items()]
    lines += [
        "",
        "postcouple COMMAND --help lists a command's options.",
        "Each process uses one torch thread unless OMP_NUM_THREADS (or a command's",
        "--threads) says otherwise.",
    ]
    return "\n".join(lines)


def _run(cmd: str, rest: list[str]) -> int:
    module = importlib.import_module(_COMMANDS[cmd][0])
    return int(module.main(rest) or 0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from postcouple import __version__

        print(f"postcouple {__version__}")
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd not in _COMMANDS:
        valid = ", ".join(_COMMANDS)
        print(f"postcouple: error: unknown command {cmd!r}; valid: {valid}", file=sys.stderr)
        return 2
    default_threads(rest)  # before anything imports torch
    try:
        return _run(cmd, rest)
    except UsageError as e:
        print(f"postcouple {cmd}: error: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        from postcouple.tasks.data import MissingDataError

        if not isinstance(e, MissingDataError):
            raise
        print(f"postcouple {cmd}: error: {e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:
        msg = missing_extra(e)
        if msg is None:
            raise
        print(f"postcouple {cmd}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
