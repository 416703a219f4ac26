"""What every ``postcouple`` subcommand shares: one-line usage errors, plain help, checks.

A user error (an unknown task, a bad schedule, an existing ``--out``, ...) is a
:class:`UsageError`; :func:`postcouple.cli.main` prints it as one line,
``postcouple COMMAND: error: MESSAGE``, and exits 2, without a traceback. The
message names the flag and the valid values. :class:`ArgumentParser` turns
argparse's own errors into the same line and requires a help text on every
option; its formatter strips reST markup from docstrings used as help.

The checks of a run's settings (:func:`check_run`) live here so that
``postcouple train`` and ``postcouple coupling`` report the same mistakes the
same way, before any model is loaded.

Example:
    >>> from postcouple._cli import UsageError, check_schedule
    >>> try:
    ...     check_schedule("sft:10,rl")
    ... except UsageError as e:
    ...     print(e)
    --schedule: expected 'KIND:N' (KIND one of sft, rl, joint, chord, luffy, hpt, relift, uft) or 'alt(...)xN' at position 7 of 'sft:10,rl'
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any, NoReturn

#: Top-level modules of the ``train`` extra (and what they pull in): a missing one
#: means the user installed the numpy-only package.
TRAIN_MODULES = frozenset(
    {
        "torch",
        "transformers",
        "tokenizers",
        "safetensors",
        "huggingface_hub",
        "tqdm",
        "tomli",
        "tomli_w",
        "matplotlib",
        "scipy",
    }
)
TRAIN_HINT = "pip install 'postcouple[train]'"

#: Models built in memory (see :mod:`postcouple.models`); any other name is a
#: local folder or a Hugging Face Hub id.
BUILTIN_MODELS = ("tiny", "qwen3-0.6b-arch")


class UsageError(Exception):
    """A mistake on the command line: one line for the user, exit status 2."""


def missing_extra(err: ModuleNotFoundError) -> str | None:
    """The message for an import that failed because the ``train`` extra is absent.

    Returns None when the missing module is not one of the extra's (a real bug).
    """
    name = (err.name or "").split(".")[0]
    if name not in TRAIN_MODULES:
        return None
    return f"this command needs the training extras (no module {name!r}): {TRAIN_HINT}"


def require_train() -> None:
    """Import the training extras up front, so a numpy-only install fails here, in one line.

    Commands that train import torch lazily (``--help`` needs none of it), and the
    coupling and compare jobs import it only in their worker processes: without this
    check their first sign of a missing extra would be a traceback from a worker.
    The ``ModuleNotFoundError`` is turned into one line by :func:`postcouple.cli.main`.
    """
    import importlib

    for name in ("torch", "transformers", "safetensors", "tomli_w"):
        importlib.import_module(name)


# -- argparse ------------------------------------------------------------------

_ROLES = re.compile(r":(?:class|func|mod|meth|attr|data|exc):`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")


def plain(text: str) -> str:
    """Docstring text without reST markup (``x`` -> x, :func:`f` -> f, ``::`` -> ``:``).

    >>> plain("run ``postcouple train`` (see :mod:`postcouple.train`)::")
    'run postcouple train (see postcouple.train):'
    """
    text = _ROLES.sub(r"\1", text)
    text = _LITERAL.sub(r"\1", text)
    return re.sub(r"::$", ":", text, flags=re.M)


class PlainFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's line breaks (examples stay readable), drops reST."""

    def _format_text(self, text: str) -> str:
        return super()._format_text(plain(text))

    def _expand_help(self, action: argparse.Action) -> str:
        return plain(super()._expand_help(action))


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors (:class:`UsageError`) and help required on options."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", PlainFormatter)
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        if not kwargs.get("help"):
            raise TypeError(f"{self.prog} {args[0]}: every option needs help=")
        return super().add_argument(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


# -- checks of a run's settings ------------------------------------------------


def check_schedule(schedule: str, flag: str = "--schedule") -> None:
    """A schedule string that :func:`postcouple.train.schedule.parse_schedule` accepts."""
    from postcouple.train.schedule import parse_schedule

    try:
        parse_schedule(schedule)
    except (ValueError, TypeError) as e:
        raise UsageError(f"{flag}: {str(e).removeprefix('schedule: ')}") from None


def check_task(name: str, options: dict[str, Any], flag: str = "--task") -> None:
    """A known task whose data can be found (a local path, or the Hub when online)."""
    from postcouple.tasks import TASKS

    if name not in TASKS:
        raise UsageError(f"{flag}: unknown task {name!r}; valid: {', '.join(sorted(TASKS))}")
    mod, cls = TASKS[name]
    import dataclasses
    import importlib

    klass = getattr(importlib.import_module(mod), cls)
    if dataclasses.is_dataclass(klass):
        valid = [f.name for f in dataclasses.fields(klass) if f.name != "name"]
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise UsageError(
                f"--set task.options: unknown option(s) {unknown} of task {name!r}; "
                f"valid: {', '.join(valid)}"
            )
    if mod == "postcouple.tasks.data":
        from postcouple.tasks.data import MissingDataError, check_source

        try:
            check_source(name, options.get("path", ""))
        except MissingDataError as e:
            raise UsageError(str(e)) from None


def check_model(name: str, flag: str = "--model") -> None:
    """A built-in model, a local model folder, or a Hub id whose config loads."""
    if name in BUILTIN_MODELS:
        return
    valid = f"valid: {', '.join(BUILTIN_MODELS)}, a local model folder or a Hugging Face Hub id"
    p = Path(name).expanduser()
    if p.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1:
        if not (p / "config.json").exists():
            raise UsageError(f"{flag}: {name!r} is not a model folder (no config.json); {valid}")
        return
    try:
        from transformers import AutoConfig

        AutoConfig.from_pretrained(name)
    except ModuleNotFoundError:
        raise
    except Exception as e:  # OSError (not found / offline), ValueError (bad id), ...
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"{flag}: cannot load {name!r} ({why[:160]}); {valid}") from None


def holds_run(out: str | Path) -> bool:
    """Whether a run directory holds a run (what ``postcouple train`` writes)."""
    d = Path(out)
    return (d / "metrics.jsonl").exists() or (d / "checkpoints").exists()


def holds_experiment(out: str | Path) -> bool:
    """Whether a directory holds a coupling experiment (``seed*/`` job folders)."""
    d = Path(out)
    return d.is_dir() and any(p.is_dir() and p.name.startswith("seed") for p in d.iterdir())


def check_out(
    out: str | Path, *, resume: bool, overwrite: bool, held: bool | None = None, what: str = "run"
) -> None:
    """``--out`` against ``--resume`` / ``--overwrite``: never silently start afresh or clobber.

    Args:
        out: the run (or experiment) directory.
        resume: the user asked to continue: ``out`` must hold something to continue.
        overwrite: the user allows starting afresh in an ``out`` that holds a run.
        held: whether ``out`` holds a run (default: :func:`holds_run`).
        what: what ``out`` holds ("run", "experiment"), for the message.
    """
    if resume and overwrite:
        raise UsageError("--resume, --overwrite: pass one or the other, not both")
    if os.environ.get("RANK", "0") != "0":
        # under torchrun rank 0 checks; another rank could see the files rank 0 has
        # just started writing (and if rank 0 stops here, torchrun stops the rest)
        return
    if held is None:
        held = holds_run(out)
    if resume and not held:
        raise UsageError(f"--resume: {out} holds no {what} to continue; drop --resume to start one")
    if held and not resume and not overwrite:
        article = "an" if what[0] in "aeiou" else "a"
        raise UsageError(
            f"--out: {out} already holds {article} {what}; pass --resume to continue it or "
            "--overwrite to start afresh"
        )


def add_set_flag(ap: argparse.ArgumentParser, help: str) -> None:
    """The repeatable ``--set KEY=VALUE`` override flag (into ``a.set``, a list).

    Example:
        >>> ap = argparse.ArgumentParser()
        >>> add_set_flag(ap, "override a key")
        >>> ap.parse_args(["--set", "rl.beta=0.1"]).set
        ['rl.beta=0.1']
    """
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=help)


def add_out_flags(ap: argparse.ArgumentParser) -> None:
    """``--resume`` and ``--overwrite`` (each only if the parser lacks it), for :func:`check_out`."""
    have = ap._option_string_actions
    if "--resume" not in have:
        ap.add_argument("--resume", action="store_true", help="continue the run(s) in --out")
    if "--overwrite" not in have:
        ap.add_argument(
            "--overwrite", action="store_true", help="start afresh in an --out that holds a run"
        )


def experiment_seeds(ap: argparse.ArgumentParser, a: argparse.Namespace) -> tuple[int, ...] | None:
    """Checks ``--workers`` and ``--scale`` and parses ``--seeds`` (None: the preset's).

    Shared by ``postcouple coupling`` and ``postcouple compare``; a bad flag is
    ``ap.error`` (exit 2 with the usage line).

    Example:
        >>> ap = argparse.ArgumentParser()
        >>> experiment_seeds(ap, argparse.Namespace(workers=2, scale=0.5, seeds="0,1"))
        (0, 1)
    """
    if a.workers < 1:
        ap.error("--workers must be >= 1")
    if a.scale <= 0:
        ap.error("--scale must be > 0")
    if not a.seeds:
        return None
    try:
        return tuple(int(s) for s in a.seeds.split(","))
    except ValueError:
        ap.error(f"--seeds: expected comma-separated integers, got {a.seeds!r}")


def check_run(cfg: Any) -> None:
    """Every check of a :class:`postcouple.train.RunConfig` that needs no model load."""
    check_schedule(cfg.schedule)
    check_task(cfg.task.name, cfg.task.options)
    check_model(cfg.model.name)
    if cfg.init_from and not Path(cfg.init_from).exists():
        raise UsageError(
            f"--init-from: no such run or model folder {cfg.init_from}; "
            "valid: a run directory (its final/ or latest checkpoint) or a model folder"
        )


def unprefixed(err: Exception) -> str:
    # from_dict names keys from the root ("config.rl: ..."); the flag names the file
    return re.sub(r"^config(\.|: )", "", str(err))


def load_config(path: str | None, sets: list[str], base: Any = None) -> Any:
    """The run config of ``--config PATH`` (or ``base``, or the defaults) with ``--set``
    overrides; an unreadable file, a TOML error, an unknown key or a wrong type is a
    :class:`UsageError` naming the flag and, for keys, the valid ones."""
    from postcouple.train.config import RunConfig, apply_overrides, load_toml

    if path:
        try:
            base = load_toml(path)
        except OSError as e:
            raise UsageError(f"--config: cannot read {path} ({e.strerror or e})") from None
        except (ValueError, TypeError) as e:  # TOML syntax errors are ValueErrors
            raise UsageError(f"--config {path}: {unprefixed(e)}") from None
    try:
        return apply_overrides(base if base is not None else RunConfig(), list(sets))
    except (ValueError, TypeError) as e:
        msg = unprefixed(e)
        raise UsageError(msg if msg.startswith("--set") else f"--set: {msg}") from None


def default_threads(argv: list[str]) -> None:
    """One intra-op torch/BLAS thread per process unless ``OMP_NUM_THREADS`` or
    ``--threads N`` says otherwise.

    torch reads ``OMP_NUM_THREADS`` when it starts, so this runs before torch is
    imported (and child processes inherit it). On a 2-core machine shared with
    other processes, torch's default (one thread per core) was measured 30x
    slower for ``postcouple train``. A subcommand that takes ``--threads`` also
    applies it itself; reading it here makes it reach torch's start-up too.
    """
    for i, a in enumerate(argv):
        v = a.split("=", 1)[1] if a.startswith("--threads=") else None
        if a == "--threads" and i + 1 < len(argv):
            v = argv[i + 1]
        if v is not None and v.isdigit() and int(v) >= 1:
            os.environ["OMP_NUM_THREADS"] = v
            os.environ["MKL_NUM_THREADS"] = v
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", os.environ["OMP_NUM_THREADS"])
