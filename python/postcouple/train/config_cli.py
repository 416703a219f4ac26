"""``postcouple config --show [--preset P]``: the full run config as TOML.

The output is the config every key of which `postcouple train --config` and
`--set` accept, with its defaults (or a coupling preset's base) filled in: a
starting point to edit. Keys that default to nothing (rl.epsilon_high) are left
out, since TOML has no null.

Examples::

    postcouple config --show > run.toml
    postcouple config --show --preset qwen3-0.6b-gsm8k --set rl.beta=0.04
"""

from __future__ import annotations

import sys

from postcouple._cli import ArgumentParser, UsageError, add_set_flag


def main(argv: list[str] | None = None) -> int:
    from postcouple.coupling.presets import PRESETS

    ap = ArgumentParser(
        prog="postcouple config",
        description=__doc__.split("\n")[0],
        epilog=__doc__.split("\n", 1)[1],
    )
    ap.add_argument("--show", action="store_true", help="print the config as TOML")
    ap.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="start from a coupling preset's base config instead of the defaults",
    )
    add_set_flag(ap, "override a key, e.g. rl.beta=0.04 (repeatable)")
    a = ap.parse_args(argv)
    if not a.show:
        raise UsageError("--show: nothing to do without it (postcouple config --show)")
    import tomli_w

    from postcouple.train.config import RunConfig, apply_overrides, to_dict

    cfg = PRESETS[a.preset].config() if a.preset else RunConfig()
    try:
        cfg = apply_overrides(cfg, list(a.set))
    except (ValueError, TypeError) as e:
        raise UsageError(
            f"--set: {str(e).removeprefix('--set ').removeprefix('--set: ')}"
        ) from None
    sys.stdout.write(tomli_w.dumps(to_dict(cfg)))
    return 0
