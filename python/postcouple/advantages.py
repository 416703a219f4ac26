"""Advantage estimators for RL post-training (GRPO family, RLOO, REINFORCE++, GAE, ...).

numpy arrays in, numpy arrays out (float32 or float64 kept, integers become
float64); torch tensors are accepted too and answered with torch tensors on the
same device and dtype. The work runs in the Rust core with the GIL released.

Groups (the G samples drawn for one prompt) are given either as ``group_size``
(consecutive runs, TRL's ``num_generations`` layout) or as ``index`` (one id per
sample in any order, verl's ``uid``: ints, strings, any hashable).

The peers disagree on edge cases; each is a named option, and ``compat``
selects a preset that reproduces one peer (values agree on every valid token;
masked positions are always 0 here, where the peers leave values no loss reads):

============  =========  ===========  ===============  ==========  ==========
compat        eps        singleton    nan              all-equal   whitening
============  =========  ===========  ===============  ==========  ==========
None (ours)   1e-6       ``zero``     ``ignore``       ``zero``    Bessel, +1e-8
``"verl"``    1e-6       no_baseline  ``propagate``    formula     Bessel, +1e-8
``"trl"``     1e-4       ``zero``     ``ignore``       formula     (none in TRL)
``"openrlhf"`` 1e-9      ``formula``  ``propagate``    formula     biased, clamp 1e-8
============  =========  ===========  ===============  ==========  ==========

- ``eps``: added to the std before dividing (verl ``epsilon=1e-6``; TRL
  ``+ 1e-4``; OpenRLHF ``+ 1e-9``).
- ``unbiased_std``: Bessel-corrected std (n - 1), what torch.std and all three
  peers use. ``False`` divides by n.
- ``singleton`` (groups of exactly one sample): ``"zero"`` gives advantage 0
  (TRL; verl's ``rloo_vectorized``); ``"no_baseline"`` uses mean 0 and std 1,
  so the raw reward passes through (verl's ``compute_grpo_outcome_advantage``,
  ``compute_rloo_outcome_advantage`` loops); ``"formula"`` applies the formula
  with n = 1, which is NaN wherever a Bessel std or an (n - 1) divisor appears
  (OpenRLHF).
- ``nan``: ``"ignore"`` treats NaN rewards as missing (left out of every
  mean/std/count; every advantage that comes out NaN becomes 0: TRL's
  ``nanmean``/``nanstd``/``nan_to_num``); ``"propagate"`` lets NaN flow
  (verl, OpenRLHF).
- ``equal_groups``: ``"zero"`` gives exactly 0 to groups whose valid rewards are
  all equal; ``"formula"`` computes ``(r - mean) / (0 + eps)``, which is 0 only
  up to the rounding of the mean (magnified by 1/eps).

Example:
    >>> import numpy as np
    >>> from postcouple.advantages import grpo, to_token_level
    >>> r = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
    >>> grpo(r, group_size=2, compat="trl").round(3)
    array([ 0.707, -0.707,  0.   ,  0.   ], dtype=float32)
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from postcouple import _core
from postcouple._arrays import float_array, is_torch, to_numpy

__all__ = [
    "ESTIMATORS",
    "ESTIMATOR_REGISTRY",
    "compute_advantages",
    "gae",
    "gpg",
    "grpo",
    "grpo_passk",
    "masked_whiten",
    "opo",
    "reinforce_pp",
    "reinforce_pp_baseline",
    "remax",
    "rloo",
    "to_token_level",
]

# One row a compat preset; the columns are the knobs `_resolve` fills in.
_PRESET_KEYS = (
    "eps",
    "unbiased_std",
    "singleton",
    "nan",
    "equal_groups",
    "whiten_unbiased",
    "whiten_clamp",
    "skip_masked",
)
# fmt: off
_PRESET_ROWS: dict[str | None, tuple[Any, ...]] = {
    None:       (1e-6, True, "zero",        "ignore",    "zero",    True,  False, True),
    "verl":     (1e-6, True, "no_baseline", "propagate", "formula", True,  False, True),
    "trl":      (1e-4, True, "zero",        "ignore",    "formula", True,  False, True),
    "openrlhf": (1e-9, True, "formula",     "propagate", "formula", False, True,  False),
}
# fmt: on
_PRESETS: dict[str | None, dict[str, Any]] = {
    compat: dict(zip(_PRESET_KEYS, row, strict=True)) for compat, row in _PRESET_ROWS.items()
}

# Measured (benches/bench_advantages.py, 2-core machine): rayon's two threads
# help only on large batches; below this many elements one thread is as fast.
_PAR_MIN = 1 << 20


def _resolve(compat: str | None, **explicit: Any) -> dict[str, Any]:
    if compat not in _PRESETS:
        raise ValueError(f"compat: expected None, 'verl', 'trl' or 'openrlhf', got {compat!r}")
    out = dict(_PRESETS[compat])
    out.update({k: v for k, v in explicit.items() if v is not None})
    if out["equal_groups"] not in ("zero", "formula"):
        raise ValueError(f"equal_groups: expected 'zero' or 'formula', got {out['equal_groups']!r}")
    return out


def _parallel(parallel: bool | None, n: int) -> bool:
    return bool(n >= _PAR_MIN) if parallel is None else bool(parallel)


def _index_array(index: Any) -> np.ndarray:
    """int64 ids: integer arrays as they are, anything else through a dict."""
    if is_torch(index):
        index, _ = to_numpy(index, "index")
    if isinstance(index, np.ndarray) and index.dtype.kind in "iub":
        if index.ndim != 1:
            raise ValueError(f"index: expected 1-D, got shape {index.shape}")
        return np.ascontiguousarray(index, dtype=np.int64)
    try:
        items = list(index)
    except TypeError:
        raise TypeError(f"index: expected a sequence of ids, got {type(index).__name__}") from None
    ids: dict[Any, int] = {}
    try:
        return np.fromiter(
            (ids.setdefault(k, len(ids)) for k in items), dtype=np.int64, count=len(items)
        )
    except TypeError as e:
        raise TypeError(f"index: ids must be hashable ({e})") from None


def _groups(group_size: Any, index: Any) -> dict[str, Any]:
    """The groups as the core reads them. Converts only: that exactly one is
    given, and their values, are checked by the core."""
    if group_size is not None and (
        isinstance(group_size, bool) or not isinstance(group_size, (int, np.integer))
    ):
        raise TypeError(f"group_size: expected an int, got {type(group_size).__name__}")
    return {
        "group_size": None if group_size is None else int(group_size),
        "index": None if index is None else _index_array(index),
    }


def _mask(response_mask: Any) -> np.ndarray:
    """(B, T) uint8 0/1 view of a bool/int/float mask (nonzero = valid)."""
    m, _ = to_numpy(response_mask, "response_mask")
    if m.ndim != 2:
        raise ValueError(f"response_mask: expected 2-D (B, T), got shape {m.shape}")
    if m.dtype == np.bool_:
        m = m.view(np.uint8)
    elif m.dtype != np.uint8:
        if m.dtype.kind not in "iuf":
            raise TypeError(f"response_mask: expected a bool/int/float mask, got dtype {m.dtype}")
        m = (m != 0).view(np.uint8)
    return np.ascontiguousarray(m)


def _group_call(
    name: str,
    rewards: Any,
    group_size: Any,
    index: Any,
    o: dict[str, Any],
    parallel: bool | None,
    lengths: np.ndarray | None = None,
    **extra: Any,
) -> tuple[np.ndarray, Callable]:
    r, back = float_array(rewards, "rewards", ndim=1)
    out = _core.compute_advantages(
        name,
        r,
        None,  # no mask: the sequence-level (B,) advantages
        **_groups(group_size, index),
        lengths=None if lengths is None else np.ascontiguousarray(lengths, dtype=r.dtype),
        parallel=_parallel(parallel, len(r)),
        **_group_options(o),
        **extra,
    )
    return out, back


def _group_options(o: dict[str, Any]) -> dict[str, Any]:
    """The resolved group options ``o`` (:func:`_resolve`) under the core's names."""
    return {
        "eps": float(o["eps"]),
        "unbiased": bool(o["unbiased_std"]),
        "singleton": o["singleton"],
        "nan": o["nan"],
        "equal_zero": o["equal_groups"] == "zero",
    }


def grpo(
    rewards: Any,
    *,
    group_size: int | None = None,
    index: Any = None,
    scale: str = "group",
    eps: float | None = None,
    unbiased_std: bool | None = None,
    singleton: str | None = None,
    nan: str | None = None,
    equal_groups: str | None = None,
    compat: str | None = None,
    parallel: bool | None = None,
) -> Any:
    """GRPO advantages ``(r - mean_g) / (std_g + eps)`` per sample, shape (B,).

    Args:
        rewards: (B,) sequence-level rewards.
        group_size: size of consecutive groups (B must be a multiple).
        index: alternatively, a group id per sample (any order, any hashable).
        scale: ``"group"`` divides by the group std (GRPO), ``"batch"`` by the
            std of the whole batch (TRL ``scale_rewards="batch"``), ``"none"``
            not at all (Dr. GRPO; verl ``norm_adv_by_std_in_grpo=False``).
        eps, unbiased_std, singleton, nan, equal_groups, compat: see the module
            docstring.
        parallel: use all cores (rayon); default: only for large batches.

    Example:
        >>> grpo(np.array([1.0, 0.0, 2.0, 2.0]), group_size=2).round(4)
        array([ 0.7071, -0.7071,  0.    ,  0.    ])
    """
    o = _resolve(compat, eps=eps, unbiased_std=unbiased_std, singleton=singleton, nan=nan,
                 equal_groups=equal_groups)  # fmt: skip
    out, back = _group_call("grpo", rewards, group_size, index, o, parallel, scale=scale)
    return back(out)


def rloo(
    rewards: Any,
    *,
    group_size: int | None = None,
    index: Any = None,
    singleton: str | None = None,
    nan: str | None = None,
    equal_groups: str | None = None,
    compat: str | None = None,
    parallel: bool | None = None,
) -> Any:
    """RLOO advantages ``r_i - mean_{j != i} r_j`` within each group, shape (B,).

    Groups of one: ``compat="verl"`` keeps the raw reward (verl's default loop;
    its ``rloo_vectorized`` gives 0, which is ``singleton="zero"``), TRL gives 0,
    OpenRLHF NaN. With ``nan="ignore"`` the baseline averages the scorable
    siblings only (TRL).

    Example:
        >>> rloo(np.array([1.0, 2.0, 6.0]), group_size=3)
        array([-3. , -1.5,  4.5])
    """
    o = _resolve(compat, singleton=singleton, nan=nan, equal_groups=equal_groups)
    out, back = _group_call("rloo", rewards, group_size, index, o, parallel)
    return back(out)


def opo(
    rewards: Any,
    response_lengths: Any,
    *,
    group_size: int | None = None,
    index: Any = None,
    singleton: str | None = None,
    nan: str | None = None,
    equal_groups: str | None = None,
    compat: str | None = None,
    parallel: bool | None = None,
) -> Any:
    """OPO: ``r - sum_g(len * r) / sum_g(len)``, a length-weighted group baseline.

    ``response_lengths`` (B,) is ``response_mask.sum(-1)`` (verl
    ``compute_opo_outcome_advantage``).

    Example:
        >>> opo(np.array([1.0, 0.0]), np.array([1.0, 3.0]), group_size=2)
        array([ 0.75, -0.25])
    """
    o = _resolve(compat, singleton=singleton, nan=nan, equal_groups=equal_groups)
    lens, _ = float_array(response_lengths, "response_lengths", ndim=1)
    out, back = _group_call("opo", rewards, group_size, index, o, parallel, lengths=lens)
    return back(out)


def gpg(
    rewards: Any,
    *,
    group_size: int | None = None,
    index: Any = None,
    f_norm: float = 1.0,
    singleton: str | None = None,
    nan: str | None = None,
    equal_groups: str | None = None,
    compat: str | None = None,
    parallel: bool | None = None,
) -> Any:
    """GPG: ``alpha * (r - mean_g) / f_norm`` with ``alpha = B / max(#{r != 0}, 1)``
    (verl ``compute_gpg_outcome_advantage``).

    Example:
        >>> gpg(np.array([1.0, 0.0, 0.0, 0.0]), group_size=2)
        array([ 2., -2.,  0.,  0.])
    """
    o = _resolve(compat, singleton=singleton, nan=nan, equal_groups=equal_groups)
    out, back = _group_call("gpg", rewards, group_size, index, o, parallel, f_norm=float(f_norm))
    return back(out)


def grpo_passk(
    rewards: Any,
    *,
    group_size: int | None = None,
    index: Any = None,
    norm_adv_by_std_in_grpo: bool = True,
    eps: float | None = None,
    unbiased_std: bool | None = None,
    nan: str | None = None,
    compat: str | None = None,
    parallel: bool | None = None,
) -> Any:
    """Pass@k GRPO (arXiv 2503.19595): only each group's best sample gets
    ``(r_max - r_second) [/ (std_g + eps)]``; every other sample 0.

    Groups need at least 2 samples (ValueError otherwise, as verl). With
    ``nan="ignore"`` NaN rewards are skipped; under ``"propagate"`` a group with
    a NaN is all NaN.

    Example:
        >>> grpo_passk(np.array([0.0, 1.0, 0.0, 0.0]), group_size=2, norm_adv_by_std_in_grpo=False)
        array([0., 1., 0., 0.])
    """
    o = _resolve(compat, eps=eps, unbiased_std=unbiased_std, nan=nan)
    out, back = _group_call(
        "grpo_passk", rewards, group_size, index, o, parallel, normalize=norm_adv_by_std_in_grpo
    )
    return back(out)


def to_token_level(advantages: Any, response_mask: Any, *, parallel: bool | None = None) -> Any:
    """Spread sequence advantages (B,) over the valid tokens: (B, T), 0 where masked.

    Example:
        >>> to_token_level(np.array([1.0, -1.0]), np.array([[1, 1, 0], [1, 0, 0]]))
        array([[ 1.,  1.,  0.],
               [-1.,  0.,  0.]])
    """
    a, back = float_array(advantages, "advantages", ndim=1)
    m = _mask(response_mask)
    return back(_core.to_token_level(a, m, parallel=_parallel(parallel, m.size)))


def masked_whiten(
    values: Any,
    response_mask: Any,
    *,
    shift_mean: bool = True,
    unbiased: bool | None = None,
    eps: float = 1e-8,
    clamp: bool | None = None,
    compat: str | None = None,
    parallel: bool | None = None,
) -> Any:
    """``(values - mean) * rsqrt(var + eps)`` with mean/var over the valid tokens.

    Every position gets the same affine map, as verl's ``masked_whiten``.
    ``compat="openrlhf"`` uses the plain variance and ``rsqrt(max(var, eps))``.
    Raises ValueError when the mask selects no token (or one, with the
    unbiased variance), as verl does.

    Example:
        >>> masked_whiten(np.array([[1.0, 3.0, 99.0]]), np.array([[1, 1, 0]]), eps=0.0).round(4)
        array([[-0.7071,  0.7071, 68.5894]])
    """
    o = _resolve(compat)
    v, back = float_array(values, "values", ndim=2)
    m = _mask(response_mask)
    out = _core.masked_whiten(
        v,
        m,
        shift_mean=shift_mean,
        unbiased=o["whiten_unbiased"] if unbiased is None else unbiased,
        eps=eps,
        clamp=o["whiten_clamp"] if clamp is None else clamp,
        parallel=_parallel(parallel, v.size),
    )
    return back(out)


def reinforce_pp_baseline(
    rewards: Any,
    response_mask: Any,
    *,
    group_size: int | None = None,
    index: Any = None,
    singleton: str | None = None,
    nan: str | None = None,
    equal_groups: str | None = None,
    compat: str | None = None,
    parallel: bool | None = None,
) -> Any:
    """REINFORCE++-baseline: ``r - mean_g`` spread over the valid tokens, then
    whitened over all valid tokens of the batch. Returns (B, T), 0 where masked.

    verl ``compute_reinforce_plus_plus_baseline_outcome_advantage`` (Bessel
    variance, ``rsqrt(var + 1e-8)``); ``compat="openrlhf"``:
    ``reinforce_baseline`` (plain variance, ``rsqrt(max(var, 1e-8))``). Under
    ``nan="ignore"`` a NaN-reward sample's tokens are left out of the whitening
    and get 0.

    Example:
        >>> m = np.ones((4, 2))
        >>> reinforce_pp_baseline(np.array([1.0, 0.0, 1.0, 1.0]), m, group_size=2)[:, 0].round(3)
        array([ 1.323, -1.323,  0.   ,  0.   ])
    """
    return compute_advantages(
        "reinforce_pp_baseline", rewards, response_mask, group_size=group_size, index=index,
        singleton=singleton, nan=nan, equal_groups=equal_groups, compat=compat, parallel=parallel,
    )  # fmt: skip


def reinforce_pp(
    token_level_rewards: Any,
    response_mask: Any,
    *,
    gamma: float = 1.0,
    skip_masked: bool | None = None,
    whiten: bool = True,
    compat: str | None = None,
    parallel: bool | None = None,
) -> tuple[Any, Any]:
    """REINFORCE++: discounted token returns, whitened over the valid tokens.

    Returns ``(advantages, returns)``, both (B, T), 0 where masked.
    ``skip_masked=True`` (verl 0.9) carries the running return across masked
    (observation) tokens without discounting; ``False`` (OpenRLHF) zeroes their
    rewards and keeps discounting through them.

    Example:
        >>> adv, ret = reinforce_pp(np.array([[0.0, 1.0], [0.0, 0.0]]), np.ones((2, 2)), whiten=False)
        >>> ret
        array([[1., 1.],
               [0., 0.]])
    """
    o = _resolve(compat, skip_masked=skip_masked)
    r, back = float_array(token_level_rewards, "token_level_rewards", ndim=2)
    m = _mask(response_mask)
    par = _parallel(parallel, r.size)
    ret = _core.discounted_returns(r, m, float(gamma), skip_masked=o["skip_masked"], parallel=par)
    if not whiten:
        return back(ret.copy()), back(ret)
    adv = _core.masked_whiten(
        ret,
        m,
        unbiased=o["whiten_unbiased"],
        eps=1e-8,
        clamp=o["whiten_clamp"],
        zero_masked=True,
        parallel=par,
    )
    return back(adv), back(ret)


def gae(
    token_level_rewards: Any,
    values: Any,
    response_mask: Any,
    *,
    gamma: float = 1.0,
    lam: float = 1.0,
    whiten: bool = True,
    skip_masked: bool | None = None,
    compat: str | None = None,
    parallel: bool | None = None,
) -> tuple[Any, Any]:
    """Generalised advantage estimation. Returns ``(advantages, returns)``, (B, T).

    ``returns = advantages + values`` before the advantages are whitened over
    the valid tokens (both verl and OpenRLHF whiten GAE advantages). Masked
    positions are skipped as verl does (``skip_masked=True``: the TD recursion
    jumps over them); ``compat="openrlhf"`` zeroes their values and rewards
    instead and whitens with the plain variance. Both outputs are 0 where masked.

    Example:
        >>> adv, ret = gae(np.array([[0.0, 1.0]]), np.array([[0.5, 0.5]]), np.ones((1, 2)), whiten=False)
        >>> adv, ret
        (array([[0.5, 0.5]]), array([[1., 1.]]))
    """
    if compat == "trl":
        raise ValueError("compat: TRL's GRPO/RLOO trainers have no GAE; use 'verl' or 'openrlhf'")
    o = _resolve(compat, skip_masked=skip_masked)
    r, back = float_array(token_level_rewards, "token_level_rewards", ndim=2)
    v, _ = float_array(values, "values", ndim=2)
    if v.dtype != r.dtype:
        v = v.astype(r.dtype)
    m = _mask(response_mask)
    adv, ret = _core.gae(
        r,
        v,
        m,
        float(gamma),
        float(lam),
        skip_masked=o["skip_masked"],
        whiten=whiten,
        unbiased=o["whiten_unbiased"],
        eps=1e-8,
        clamp=o["whiten_clamp"],
        parallel=_parallel(parallel, r.size),
    )
    return back(adv), back(ret)


def remax(token_level_rewards: Any, reward_baselines: Any, response_mask: Any) -> tuple[Any, Any]:
    """ReMax (arXiv 2310.10505): returns are the reward-to-go of the masked token
    rewards, advantages ``returns - baseline`` where the baseline is the greedy
    response's reward (B,). Returns ``(advantages, returns)``, (B, T), 0 where
    masked (verl ``compute_remax_outcome_advantage``).

    Example:
        >>> adv, ret = remax(np.array([[0.0, 1.0]]), np.array([0.25]), np.ones((1, 2)))
        >>> adv
        array([[0.75, 0.75]])
    """
    r, back = float_array(token_level_rewards, "token_level_rewards", ndim=2)
    b, _ = float_array(reward_baselines, "reward_baselines", ndim=1)
    m = _mask(response_mask)
    if len(b) != r.shape[0]:
        raise ValueError(f"reward_baselines: has {len(b)} entries, expected {r.shape[0]}")
    ret = _core.discounted_returns(r, m, 1.0, skip_masked=False)
    adv = ret - _core.to_token_level(b.astype(r.dtype, copy=False), m)
    return back(adv), back(ret)


#: The registry: estimator name -> the function that computes it on its own
#: terms (verl's ``core_algos`` registry style). Its keys are the names
#: :func:`compute_advantages` and the training config accept (the Rust core
#: parses the same names, ``_core.ESTIMATORS``; the tests check they agree);
#: each function's keyword-only parameters are the options
#: ``compute_advantages`` accepts for it, with the same defaults.
ESTIMATOR_REGISTRY: dict[str, Callable[..., Any]] = {
    "grpo": grpo,
    # Dr. GRPO (arXiv 2503.20783): GRPO without the std division
    "dr_grpo": functools.partial(grpo, scale="none"),
    "rloo": rloo,
    "reinforce_pp_baseline": reinforce_pp_baseline,
    "reinforce_pp": reinforce_pp,
    "opo": opo,
    "gpg": gpg,
    "grpo_passk": grpo_passk,
}

#: The names accepted by :func:`compute_advantages` (the registry's keys).
ESTIMATORS: tuple[str, ...] = tuple(ESTIMATOR_REGISTRY)

# Per estimator: its options and their defaults (the groups are
# compute_advantages' own arguments).
_OPTIONS: dict[str, dict[str, Any]] = {
    name: {
        p.name: p.default
        for p in inspect.signature(fn).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name not in ("group_size", "index")
    }
    for name, fn in ESTIMATOR_REGISTRY.items()
}


def compute_advantages(
    estimator: str,
    rewards: Any,
    response_mask: Any,
    *,
    group_size: int | None = None,
    index: Any = None,
    **options: Any,
) -> Any:
    """Token-level advantages (B, T) by estimator name, for training loops.

    One call into the Rust core, whatever the estimator.

    Args:
        estimator: one of :data:`ESTIMATORS`. ``"dr_grpo"`` is ``grpo`` with
            ``scale="none"``; ``"reinforce_pp"`` places each sequence reward on
            its last valid token and ignores the groups; ``"opo"`` takes the
            response lengths from the mask.
        rewards: (B,) sequence-level rewards.
        response_mask: (B, T) 0/1.
        group_size, index: the groups (see :func:`grpo`).
        **options: the keyword options of ``ESTIMATOR_REGISTRY[estimator]`` (``eps``,
            ``scale``, ``compat``, ``gamma``, ...); any other is a TypeError.

    Returns:
        (B, T) float32/float64 (the rewards' dtype), 0 at masked positions.

    Example:
        >>> compute_advantages("rloo", np.array([1.0, 0.0]), np.ones((2, 2)), group_size=2)
        array([[ 1.,  1.],
               [-1., -1.]])
    """
    allowed = _OPTIONS.get(estimator)
    if allowed is None:
        raise ValueError(f"estimator: expected one of {', '.join(ESTIMATORS)}; got {estimator!r}")
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(
            f"{estimator}: unexpected option(s) {', '.join(unknown)}; it takes {', '.join(allowed)}"
        )
    kw = {**allowed, **options}
    if estimator == "dr_grpo" and kw["scale"] != "none":
        raise ValueError(f"scale: dr_grpo is grpo with scale='none', got {kw['scale']!r}")
    o = _resolve(kw.get("compat"), eps=kw.get("eps"), unbiased_std=kw.get("unbiased_std"),
                 singleton=kw.get("singleton"), nan=kw.get("nan"),
                 equal_groups=kw.get("equal_groups"), skip_masked=kw.get("skip_masked"))  # fmt: skip
    r, back = float_array(rewards, "rewards", ndim=1)
    m = _mask(response_mask)
    out = _core.compute_advantages(
        estimator,
        r,
        m,
        **(_groups(group_size, index)),
        **_group_options(o),
        scale=kw.get("scale", "group"),
        f_norm=float(kw.get("f_norm", 1.0)),
        normalize=bool(kw.get("norm_adv_by_std_in_grpo", True)),
        gamma=float(kw.get("gamma", 1.0)),
        skip_masked=bool(o["skip_masked"]),
        whiten=bool(kw.get("whiten", True)),
        whiten_unbiased=bool(o["whiten_unbiased"]),
        whiten_clamp=bool(o["whiten_clamp"]),
        parallel=_parallel(kw.get("parallel"), m.size),
    )
    return back(out)
