# Type stubs for the compiled module postcouple._core.
# tests/test_stub.py checks that every public name here exists in the module and
# vice versa. Users import the wrappers (postcouple.advantages, .packing, .rewards).

__version__: str

# --- advantages ---
from collections.abc import Sequence

import numpy as np

def compute_advantages(
    estimator: str,
    rewards: np.ndarray,
    response_mask: np.ndarray | None = None,
    *,
    group_size: int | None = None,
    index: np.ndarray | None = None,
    lengths: np.ndarray | None = None,
    eps: float = 1e-6,
    unbiased: bool = True,
    singleton: str = "zero",
    nan: str = "ignore",
    equal_zero: bool = True,
    scale: str = "group",
    f_norm: float = 1.0,
    normalize: bool = True,
    gamma: float = 1.0,
    skip_masked: bool = True,
    whiten: bool = True,
    whiten_unbiased: bool = True,
    whiten_clamp: bool = False,
    parallel: bool = False,
) -> np.ndarray: ...

ESTIMATORS: tuple[str, ...]

def masked_whiten(
    values: np.ndarray,
    response_mask: np.ndarray,
    *,
    shift_mean: bool = True,
    unbiased: bool = True,
    eps: float = 1e-8,
    clamp: bool = False,
    zero_masked: bool = False,
    parallel: bool = False,
) -> np.ndarray: ...
def to_token_level(
    advantages: np.ndarray, response_mask: np.ndarray, *, parallel: bool = False
) -> np.ndarray: ...
def discounted_returns(
    token_level_rewards: np.ndarray,
    response_mask: np.ndarray,
    gamma: float,
    *,
    skip_masked: bool = True,
    parallel: bool = False,
) -> np.ndarray: ...
def gae(
    token_level_rewards: np.ndarray,
    values: np.ndarray,
    response_mask: np.ndarray,
    gamma: float,
    lam: float,
    *,
    skip_masked: bool = True,
    whiten: bool = True,
    unbiased: bool = True,
    eps: float = 1e-8,
    clamp: bool = False,
    parallel: bool = False,
) -> tuple[np.ndarray, np.ndarray]: ...

# -- packing (postcouple.packing) -------------------------------------------------

def pack(
    lengths: np.ndarray, capacity: int, strategy: str, overflow: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
def balance(workloads: np.ndarray, k: int, method: str, equal_size: bool) -> list[np.ndarray]: ...
def collate(
    flat: np.ndarray,
    seq_ptr: np.ndarray,
    prompt_len: np.ndarray | None,
    bin_ptr: np.ndarray,
    seq: np.ndarray,
    offset: np.ndarray,
    len: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...

# --- rewards ---
MODES: tuple[str, ...]
THINK_ANSWER_PATTERN: str

def extract_answer(
    text: str, mode: str, last_number_fallback: bool, last_math_fallback: bool
) -> str | None: ...
def math_equal(pred: str, gold: str, rel_tol: float, strict: bool) -> bool: ...
def parse_ok(answer: str) -> bool: ...
def math_reward(
    completions: Sequence[str],
    golds: Sequence[str],
    mode: str,
    last_number_fallback: bool,
    last_math_fallback: bool,
    rel_tol: float,
    strict: bool,
    num_threads: int | None,
) -> np.ndarray: ...
def label_reward(
    completions: Sequence[str],
    labels: Sequence[str],
    mode: str,
    case_sensitive: bool,
    num_threads: int | None,
) -> np.ndarray: ...
def format_reward(
    completions: Sequence[str], pattern: str | None, num_threads: int | None
) -> np.ndarray: ...
def overlong_penalty(
    lengths: np.ndarray, max_len: int, buffer: int, factor: float
) -> np.ndarray: ...
def reward_caps() -> dict[str, int]: ...
