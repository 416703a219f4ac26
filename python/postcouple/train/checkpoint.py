"""Checkpoints that never lose finished work.

A checkpoint is a directory ``checkpoints/step-00000123/`` holding

- ``model.safetensors`` — the weights (safetensors: no pickle);
- ``optim.pt`` — optimizer states, saved with ``torch.save`` and loaded with
  ``weights_only=True`` (tensors and plain containers only, never arbitrary
  pickles);
- ``rng.pt`` — torch CPU (and CUDA) RNG states, numpy and Python RNG states,
  one entry per rank (one for a single process);
- ``state.json`` — stage index, step in stage, global step, data positions.

It is first written into a temporary sibling directory and then renamed into
place (a rename is atomic on POSIX), and ``checkpoints/latest`` (a one-line
file, itself replaced atomically) names the newest complete one. A run killed
at any moment therefore leaves either the old or the new checkpoint, whole.
Files and directories get the modes an ordinary ``open``/``mkdir`` would give
them under the process's umask (``tempfile`` alone would make them private).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch


def _umask() -> int:
    # there is no getter: set and restore (Linux also has it in /proc/self/status)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def umask_modes(directory: Path) -> None:
    """Give ``directory`` and the files in it the modes ``mkdir``/``open`` would give
    them (0o777 / 0o666 under the umask): ``mkdtemp`` makes 0o700 and safetensors
    writes 0o600, which would leave checkpoints unreadable to the user's group."""
    umask = _umask()
    os.chmod(directory, 0o777 & ~umask)
    for f in Path(directory).iterdir():
        if f.is_file():
            os.chmod(f, 0o666 & ~umask)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder and a rename.

    The file gets the mode ``open(path, "wb")`` would give it (0o666 under the
    umask), not ``mkstemp``'s 0o600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def rng_state(*, lazy_cuda: bool = False) -> dict[str, Any]:
    """The torch, numpy, Python (and CUDA) RNG states; :func:`set_rng_state` restores them.

    ``lazy_cuda``: read the CUDA states only if CUDA is already initialized (a
    callback must not initialize CUDA as a side effect).
    """
    st: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(legacy=False),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and (not lazy_cuda or torch.cuda.is_initialized()):
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st: dict[str, Any]) -> None:
    torch.set_rng_state(st["torch"])
    np.random.set_state(st["numpy"])
    random.setstate(st["python"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def _plain(x: Any) -> Any:
    # numpy/python RNG states hold arrays and tuples: turn them into plain lists,
    # ints and strings so that ``torch.load(weights_only=True)`` accepts them.
    if isinstance(x, np.ndarray):
        return {"__ndarray__": x.tolist(), "dtype": str(x.dtype)}
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return [_plain(v) for v in x]
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    return x


def _unplain(x: Any) -> Any:
    if isinstance(x, dict):
        if "__ndarray__" in x:
            return np.array(x["__ndarray__"], dtype=x["dtype"])
        return {k: _unplain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_unplain(v) for v in x]
    return x


def _rng_to_saveable(st: dict[str, Any]) -> dict[str, Any]:
    out = dict(st)
    out["numpy"] = _plain(st["numpy"])
    out["python"] = _plain(st["python"])
    return out


def _rng_from_saved(st: dict[str, Any]) -> dict[str, Any]:
    out = dict(st)
    out["numpy"] = _unplain(st["numpy"])
    ver, inner, gauss = st["python"]
    out["python"] = (ver, tuple(inner), gauss)
    return out


def save_checkpoint(
    root: Path,
    step: int,
    model: torch.nn.Module,
    optimizers: dict[str, torch.optim.Optimizer],
    state: dict[str, Any],
    keep: int = 2,
    *,
    model_state: dict[str, torch.Tensor] | None = None,
    optim_state: dict[str, Any] | None = None,
    rng_states: list[dict[str, Any]] | None = None,
) -> Path:
    """Write checkpoint ``root/step-{step:08d}`` atomically; keep the newest ``keep``.

    ``model_state``/``optim_state``: gathered full state dicts to write instead
    of ``model``'s and the optimizers' own (FSDP, see train/distributed.py).
    ``rng_states``: every rank's :func:`rng_state`, in rank order (default:
    this process's alone); :func:`restore_rng` reads them back.
    """
    from safetensors.torch import save_file, save_model

    named = model_state.items() if model_state is not None else model.named_parameters()
    for name, p in named:
        if p.is_floating_point() and not torch.isfinite(p).all():
            raise FloatingPointError(
                f"parameter {name} is not finite at step {step}: not saved; the last good"
                " checkpoint is kept"
            )
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:08d}"
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
    try:
        if model_state is None:
            save_model(model, str(tmp / "model.safetensors"))
        else:
            sd = dict(model_state)
            if getattr(model.config, "tie_word_embeddings", False):
                sd.pop("lm_head.weight", None)  # stored once, as save_model does
            save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp / "model.safetensors"))
        optim = (
            optim_state
            if optim_state is not None
            else {k: o.state_dict() for k, o in optimizers.items()}
        )
        torch.save(optim, tmp / "optim.pt")
        states = rng_states if rng_states is not None else [rng_state()]
        torch.save([_rng_to_saveable(r) for r in states], tmp / "rng.pt")
        (tmp / "state.json").write_text(json.dumps(state, indent=1))
        umask_modes(tmp)
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_bytes(root / "latest", final.name.encode())
    done = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-"))
    for old in done[: max(0, len(done) - keep)]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(root: Path) -> Path | None:
    root = Path(root)
    f = root / "latest"
    if not f.exists():
        return None
    p = root / f.read_text().strip()
    return p if (p / "state.json").exists() else None


def load_weights(model: torch.nn.Module, path: Path) -> None:
    """Load ``model.safetensors`` from a checkpoint or final directory into ``model``."""
    from safetensors.torch import load_model

    f = Path(path) / "model.safetensors"
    if not f.exists():
        raise FileNotFoundError(f"init_from: no model.safetensors in {path}")
    missing, unexpected = load_model(model, str(f), strict=False)
    # tied embeddings: lm_head.weight is stored once (safetensors drops shared tensors)
    missing = [m for m in missing if m != "lm_head.weight"]
    if missing or unexpected:
        raise ValueError(
            f"init_from: weights do not fit the model (missing {missing[:5]}, "
            f"unexpected {unexpected[:5]})"
        )


def _optim_and_state(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    osd = torch.load(path / "optim.pt", weights_only=True, map_location="cpu")
    return osd, json.loads((path / "state.json").read_text())


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """The full model and optimizer state dicts and the trainer state of a
    checkpoint, without a model (for FSDP's sharded loading)."""
    from safetensors.torch import load_file

    path = Path(path)
    return (load_file(str(path / "model.safetensors")), *_optim_and_state(path))


def load_checkpoint(
    path: Path, model: torch.nn.Module, optimizers: dict[str, torch.optim.Optimizer]
) -> dict[str, Any]:
    """Restore weights and optimizer states; return the trainer state."""
    path = Path(path)
    load_weights(model, path)
    opt, state = _optim_and_state(path)
    for k, o in optimizers.items():
        if k in opt:
            o.load_state_dict(opt[k])
    return state


def restore_rng(path: Path, rank: int = 0, world_size: int = 1) -> bool:
    """Restore this rank's RNG states from a checkpoint. True if it was written
    by ``world_size`` ranks; otherwise rank 0's states are restored and False
    returned (the caller reseeds per rank)."""
    states = torch.load(Path(path) / "rng.pt", weights_only=True)
    same = len(states) == world_size
    set_rng_state(_rng_from_saved(states[rank if same else 0]))
    return same
