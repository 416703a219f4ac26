"""The ``postcouple`` command.

Subcommands are owned by their modules so the CLI stays thin:

- ``postcouple coupling`` — the main job: the paper's two effects, measured
  (``postcouple.coupling.cli``);
- ``postcouple train`` — run any SFT/RL schedule (``postcouple.train.cli``);
- ``postcouple bench`` — the compiled core against its Python references
  (``postcouple.benchsummary``).
"""

from __future__ import annotations

import importlib
import sys

_COMMANDS = {
    "coupling": (
        "postcouple.coupling.cli",
        "reproduce the paper's two effects and compare schedules",
    ),
    "compare": ("postcouple.coupling.compare", "rank SFT+RL methods on one Pareto front"),
    "train": ("postcouple.train.cli", "train a model through a schedule of SFT/RL stages"),
    "bench": ("postcouple.benchsummary", "time the Rust core against the Python references"),
}


def _usage() -> str:
    lines = ["usage: postcouple COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in _COMMANDS.items()]
    lines += ["", "`postcouple COMMAND --help` for a command's options."]
    return "\n".join(lines)


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
        print(f"postcouple: unknown command {cmd!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(_COMMANDS[cmd][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
