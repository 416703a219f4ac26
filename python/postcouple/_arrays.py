"""Array plumbing shared by the wrappers around ``_core``.

The core speaks numpy. Users of TRL/verl/OpenRLHF hold torch tensors, so every
public function accepts either and answers in kind: a torch tensor in gives a
torch tensor out, on the same device and with the same dtype. torch is never
imported unless the caller passed a tensor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


def is_torch(x: Any) -> bool:
    return type(x).__module__.split(".", 1)[0] == "torch" and hasattr(x, "detach")


def to_numpy(x: Any, name: str) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    """Return ``(array, back)``: a numpy view/copy of ``x`` and a function that
    converts a numpy result back into the caller's kind (tensor or array)."""
    if is_torch(x):
        import torch

        device, dtype = x.device, x.dtype
        src = x.detach()
        if src.dtype == torch.bfloat16 or src.dtype == torch.float16:
            src = src.float()
        arr = src.cpu().numpy()

        def back(a: np.ndarray) -> Any:
            return torch.from_numpy(np.ascontiguousarray(a)).to(device=device, dtype=dtype)

        return arr, back
    if isinstance(x, np.ndarray):
        return x, lambda a: a
    if isinstance(x, (list, tuple)):
        try:
            arr = np.asarray(x)
        except ValueError as e:
            raise ValueError(
                f"{name}: could not make an array from the given sequence ({e})"
            ) from None
        return arr, lambda a: a
    raise TypeError(f"{name}: expected a numpy array or torch tensor, got {type(x).__name__}")


def float_array(x: Any, name: str, *, ndim: int | None = None) -> tuple[np.ndarray, Callable]:
    """A C-contiguous float32/float64 array (ints and bools become float64)."""
    arr, back = to_numpy(x, name)
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    elif arr.dtype not in FLOAT_DTYPES:
        if arr.dtype.kind == "f":  # float16 and friends
            arr = arr.astype(np.float32)
        else:
            raise TypeError(f"{name}: expected a float array, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim}-D, got shape {arr.shape}")
    return np.ascontiguousarray(arr), back
