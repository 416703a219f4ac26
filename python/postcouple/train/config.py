"""Typed configs for a training run, and their TOML form.

One dataclass per stage (``SFTConfig``, ``RLConfig``, ``JointConfig`` and the
methods' ``ChordConfig``, ``LuffyConfig``, ``HPTConfig``, ``ReLIFTConfig``,
``UFTConfig``), plus the model, task and evaluation settings; ``RunConfig`` composes them with the
schedule. Names follow TRL where TRL has one (``learning_rate``,
``num_generations``, ``beta``, ``epsilon``/``epsilon_high``, ``max_grad_norm``,
``lr_scheduler_type``, ``warmup_ratio``) and verl's ``loss_agg_mode`` values.

On disk it is TOML, sections named after the fields::

    schedule = "sft:300,rl:100"
    seed = 0
    [model]
    name = "tiny"
    [rl]
    num_generations = 8
    beta = 0.04

Unknown or ill-typed keys are errors that name the valid keys. Fixed-choice
fields are ``Literal`` types; every dataclass checks its values when it is built
(``__post_init__``) and again in :meth:`RunConfig.validate` (which
:func:`postcouple.train.run` calls, since fields may be set after construction),
raising a ``ValueError`` that names the field and the valid values.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

DType = Literal["auto", "float32", "bfloat16"]
LRSchedulerType = Literal["constant", "linear", "cosine"]
ScaleRewards = Literal["group", "batch", "none"]
KLEstimator = Literal["k1", "k2", "k3"]
LossAggMode = Literal[
    "token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm"
]
MuSchedule = Literal["constant", "warmup_cosine"]  # chord.mu_schedule


def _choice(where: str, value: Any, tp: Any) -> None:
    choices = typing.get_args(tp)
    if value not in choices:
        raise ValueError(f"{where}: expected one of {list(choices)}, got {value!r}")


def _at_least(section: str, cfg: Any, names: tuple[str, ...], low: float) -> None:
    for k in names:
        v = getattr(cfg, k)
        if not v >= low:  # also catches NaN
            raise ValueError(f"{section}.{k}: must be >= {low:g}, got {v!r}")


def _within(where: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ValueError(f"{where}: must be in [{low:g}, {high:g}], got {value!r}")


class _Checked:
    """A config section that checks its values when built (``validate``, which
    :meth:`RunConfig.validate` calls again: fields may be set afterwards)."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        raise NotImplementedError


@dataclass
class ModelConfig(_Checked):
    """Which model, on which device, in which dtype."""

    name: str = "tiny"  # "tiny", "qwen3-0.6b-arch", or a hub id / local path
    dtype: DType = "auto"  # "auto": bf16 autocast on CUDA, else float32
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    # "sdpa_varlen" (postcouple.attention): HF's sdpa, except that packed rows attend
    # per sequence (no O(row^2) block-diagonal mask); "flash_attention_2" where flash-attn
    # is installed; "sdpa" / "eager" are HF's own.
    attn_implementation: str = "sdpa_varlen"
    # Under torchrun: shard parameters, gradients and optimizer states over the ranks
    # (FSDP2 ``fully_shard`` per decoder layer); otherwise DDP-style replicas.
    fsdp: bool = False
    hidden_size: int = 64  # tiny only
    num_hidden_layers: int = 2  # tiny only
    intermediate_size: int = 192  # tiny only

    def validate(self) -> None:
        _choice("model.dtype", self.dtype, DType)
        _at_least("model", self, ("hidden_size", "num_hidden_layers", "intermediate_size"), 1)


@dataclass
class TaskConfig:
    """Which task and its options (passed to the task's constructor)."""

    name: str = "arith"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig(_Checked):
    """AdamW and the learning-rate schedule of one stage."""

    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.99
    lr_scheduler_type: LRSchedulerType = "constant"  # after the warmup
    warmup_ratio: float = 0.0
    max_grad_norm: float = 1.0  # 0 disables clipping
    # No gradient_accumulation_steps: a step's batch is always split into
    # micro-batches that fit (SFT: max_tokens_per_batch; RL: num_mini_batches)
    # and their gradients accumulate with a step-level normaliser.

    section: ClassVar[str] = "optim"  # the TOML section, for error messages

    def validate(self) -> None:
        s = self.section
        _choice(f"{s}.lr_scheduler_type", self.lr_scheduler_type, LRSchedulerType)
        _at_least(s, self, ("learning_rate", "weight_decay", "max_grad_norm"), 0)
        _within(f"{s}.warmup_ratio", self.warmup_ratio, 0.0, 1.0)
        for k in ("adam_beta1", "adam_beta2"):
            v = getattr(self, k)
            if not 0.0 <= v < 1.0:
                raise ValueError(f"{s}.{k}: must be in [0, 1), got {v!r}")


@dataclass
class SFTConfig(OptimConfig):
    """Supervised fine-tuning: cross-entropy on response tokens only."""

    batch_size: int = 64  # sequences per optimizer step (over all accumulation steps)
    # Padding-free packed micro-batches (postcouple.packing). They need varlen attention
    # (model.attn_implementation "sdpa_varlen" or "flash_attention_2"): under HF's plain
    # "sdpa" a packed row attends under a block-diagonal (T, T) mask, O(row^2).
    packing: bool = True
    # Padded micro-batches only (packing=false): sort the step's sequences by length
    # before cutting them into micro-batches (TRL's group_by_length), else keep data order.
    group_by_length: bool = True
    max_tokens_per_batch: int = 8192  # capacity of one packed micro-batch
    max_length: int = 512  # longer examples are truncated (prompt kept)

    section: ClassVar[str] = "sft"

    def validate(self) -> None:
        super().validate()
        _at_least("sft", self, ("batch_size", "max_tokens_per_batch"), 1)
        _at_least("sft", self, ("max_length",), 2)


@dataclass
class RLConfig(OptimConfig):
    """GRPO-family RL: G samples per prompt, PPO-clip loss, optional KL to a reference."""

    learning_rate: float = 5e-4
    num_prompts: int = 16  # prompts per step; the batch holds num_prompts * num_generations
    num_generations: int = 8
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 16
    estimator: str = "grpo"  # any name in postcouple.advantages.ESTIMATORS
    scale_rewards: ScaleRewards = "group"  # grpo only
    beta: float = 0.0  # KL coefficient to the reference (TRL's beta)
    kl_estimator: KLEstimator = "k3"  # for the KL loss term
    # verl's use_kl_in_reward: subtract beta * sum_t log(pi/ref) (k1, measured at
    # rollout time) from each sequence's reward instead of adding a KL loss term;
    # with an unbiased estimator (rloo, dr_grpo) and seq-mean-token-sum this is
    # the exact policy gradient of E[r] - beta * KL(pi || ref), whose optimum is
    # ref * exp(r / beta) / Z (what C1(beta) is stated for).
    use_kl_in_reward: bool = False
    epsilon: float = 0.2  # clip low
    epsilon_high: float | None = None  # clip high (DAPO); None = epsilon
    loss_agg_mode: LossAggMode = "token-mean"
    # Padding-free log-prob forwards: each mini-batch's prompts (without left padding)
    # and completions (up to eos) in one packed row (postcouple.packing), as verl's
    # use_remove_padding; needs model.attn_implementation "sdpa_varlen" or
    # "flash_attention_2". False: the padded (B, P+C) forward.
    packing: bool = False
    num_iterations: int = 1  # optimisation epochs per rollout (TRL's num_iterations)
    num_mini_batches: int = 1  # optimizer steps per epoch
    reward_weights: list[float] = field(default_factory=list)  # one per reward func; [] = 1 each

    section: ClassVar[str] = "rl"

    def validate(self) -> None:
        from postcouple.advantages import ESTIMATORS

        super().validate()
        if self.estimator not in ESTIMATORS:
            raise ValueError(
                f"rl.estimator: expected one of {list(ESTIMATORS)}, got {self.estimator!r}"
            )
        _choice("rl.scale_rewards", self.scale_rewards, ScaleRewards)
        _choice("rl.kl_estimator", self.kl_estimator, KLEstimator)
        _choice("rl.loss_agg_mode", self.loss_agg_mode, LossAggMode)
        _at_least(
            "rl",
            self,
            ("num_prompts", "num_generations", "max_new_tokens", "num_iterations"),
            1,
        )
        _at_least("rl", self, ("num_mini_batches",), 1)
        if (self.num_prompts * self.num_generations) % self.num_mini_batches:
            raise ValueError("rl.num_mini_batches must divide num_prompts * num_generations")
        if not self.temperature > 0:
            raise ValueError(f"rl.temperature: must be > 0, got {self.temperature!r}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"rl.top_p: must be in (0, 1], got {self.top_p!r}")
        _at_least("rl", self, ("beta", "epsilon"), 0)
        if self.epsilon_high is not None and not self.epsilon_high >= 0:
            raise ValueError(f"rl.epsilon_high: must be >= 0, got {self.epsilon_high!r}")


@dataclass
class JointConfig(_Checked):
    """One loss (1 - mu) * L_RL + mu * L_SFT per step (CHORD-style)."""

    mu: float = 0.3
    learning_rate: float = 5e-4

    def validate(self) -> None:
        _within("joint.mu", self.mu, 0.0, 1.0)
        _at_least("joint", self, ("learning_rate",), 0)


# -- coupling-management methods (train/chord.py, luffy.py, hpt.py, relift.py, uft.py) --
# The stage kind of the same name reads its section (its knobs and learning
# rate); its RL part uses ``[rl]`` (prompts per step, samples per prompt,
# estimator, PPO clip, KL, AdamW betas, lr schedule, max_grad_norm) and its
# expert batches ``[sft]`` (chord's batch size; packing, max_length). The
# defaults are postcouple's, sized for the tiny task, not the papers' tuned values.


@dataclass
class ChordConfig(_Checked):
    """CHORD (arXiv 2508.11408): L = (1 - mu_t) L_RL + mu_t L_SFT^phi.

    ``mu_schedule = "constant"``: mu_t = mu_peak. ``"warmup_cosine"``: mu_t
    rises linearly to mu_peak over ``mu_warmup_ratio`` of the chord steps
    (mu_peak (t + 1) / W), then decays on a cosine to mu_valley at the last
    chord step.
    ``phi``: weight each expert token's NLL by sg(p (1 - p)) (CHORD-phi).
    """

    mu_schedule: MuSchedule = "warmup_cosine"
    mu_peak: float = 0.5
    mu_valley: float = 0.05
    mu_warmup_ratio: float = 0.1
    phi: bool = True
    learning_rate: float = 5e-4

    def validate(self) -> None:
        _choice("chord.mu_schedule", self.mu_schedule, MuSchedule)
        for k in ("mu_peak", "mu_valley", "mu_warmup_ratio"):
            _within(f"chord.{k}", getattr(self, k), 0.0, 1.0)
        _at_least("chord", self, ("learning_rate",), 0)


@dataclass
class LuffyConfig(_Checked):
    """LUFFY (arXiv 2504.14945): groups of K = rl.num_generations on-policy samples
    plus ``num_expert`` expert solutions; expert tokens shaped by f(p) = p / (p + gamma)."""

    gamma: float = 0.1
    num_expert: int = 1  # E expert solutions per group (0: plain GRPO)
    # advantages over the whole mixed group; LUFFY drops the std division
    scale_rewards: ScaleRewards = "none"
    learning_rate: float = 5e-4

    def validate(self) -> None:
        _choice("luffy.scale_rewards", self.scale_rewards, ScaleRewards)
        if not self.gamma > 0:  # also catches NaN
            raise ValueError(f"luffy.gamma: must be > 0, got {self.gamma!r}")
        _within("luffy.num_expert", self.num_expert, 0, 64)
        _at_least("luffy", self, ("learning_rate",), 0)


@dataclass
class HPTConfig(_Checked):
    """HPT (arXiv 2509.04419): per prompt, SFT on its expert solution when at most
    ``gamma`` of its K samples are correct, else the RL loss (gamma = 0: SuperRL)."""

    gamma: int = 0
    learning_rate: float = 5e-4

    def validate(self) -> None:
        _at_least("hpt", self, ("gamma", "learning_rate"), 0)


@dataclass
class ReLIFTConfig(_Checked):
    """ReLIFT (arXiv 2506.07527): RL steps; expert solutions of prompts with 0 of K
    correct are buffered; when the buffer holds ``buffer_size`` (M), one SFT step."""

    buffer_size: int = 16
    learning_rate: float = 5e-4

    def validate(self) -> None:
        _at_least("relift", self, ("buffer_size",), 1)
        _at_least("relift", self, ("learning_rate",), 0)


@dataclass
class UFTConfig(_Checked):
    """UFT (arXiv 2505.16984): hints of k ~ Binomial(n, p(t)) of n expert chunks,
    p(t) = p_low + (p_high - p_low)(1 + cos(pi (t+1) / t_hint)) / 2 for t < t_hint, else 0;
    GRPO on the continuation plus ``beta`` x the NLL of the hint tokens."""

    t_hint: int = 100  # uft steps until the hints are gone
    p_high: float = 0.95
    p_low: float = 0.05
    num_chunks: int = 4  # n: the expert solution cut into this many token chunks
    beta: float = 0.001
    learning_rate: float = 5e-4

    def validate(self) -> None:
        _at_least("uft", self, ("t_hint", "num_chunks"), 1)
        _within("uft.p_high", self.p_high, 0.0, 1.0)
        _within("uft.p_low", self.p_low, 0.0, self.p_high)
        _at_least("uft", self, ("beta", "learning_rate"), 0)


@dataclass
class EvalConfig(_Checked):
    """Evaluation every ``interval`` steps of every stage (and at each stage's ends)."""

    interval: int = 25
    num_examples: int = 256  # held-out expert examples for the SFT loss
    num_prompts: int = 64  # held-out prompts for reward / greedy accuracy
    num_samples: int = 4  # samples per prompt at temperature 1
    greedy: bool = True
    grad_cosine: bool = False  # cos(grad L_SFT, grad L_RL) on fixed probe batches
    probe_examples: int = 256  # expert examples for grad L_SFT
    probe_prompts: int = 32  # prompts (x num_generations samples) for grad L_RL

    def validate(self) -> None:
        names = ("interval", "num_examples", "num_prompts", "num_samples")
        _at_least("eval", self, (*names, "probe_examples", "probe_prompts"), 1)


@dataclass
class RunConfig(_Checked):
    """A whole run: model, task, the stages' settings and the schedule."""

    schedule: str = "sft:300,rl:100"
    seed: int = 0
    out: str = "runs/default"
    init_from: str = ""  # a run directory (its final/ or latest checkpoint) or a model dir
    checkpoint_interval: int = 100  # steps; stage ends always checkpoint
    keep_checkpoints: int = 2
    progress: bool = True
    model: ModelConfig = field(default_factory=ModelConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    rl: RLConfig = field(default_factory=RLConfig)
    joint: JointConfig = field(default_factory=JointConfig)
    chord: ChordConfig = field(default_factory=ChordConfig)
    luffy: LuffyConfig = field(default_factory=LuffyConfig)
    hpt: HPTConfig = field(default_factory=HPTConfig)
    relift: ReLIFTConfig = field(default_factory=ReLIFTConfig)
    uft: UFTConfig = field(default_factory=UFTConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def validate(self) -> None:
        """Check every section again (their fields may have been set after construction)."""
        from postcouple.train.schedule import parse_schedule

        parse_schedule(self.schedule)
        _at_least("config", self, ("checkpoint_interval", "keep_checkpoints"), 1)
        sections = (self.model, self.sft, self.rl, self.joint, self.eval)
        methods = (self.chord, self.luffy, self.hpt, self.relift, self.uft)
        for section in sections + methods:
            section.validate()


# -- dict / TOML round trip ----------------------------------------------------


def _check(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _check(value, a, where)
            except (TypeError, ValueError):
                pass
        raise TypeError(f"{where}: expected {tp}, got {value!r}")
    if origin is Literal:
        _choice(where, value, tp)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise TypeError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise TypeError(f"{where}: expected a string, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise TypeError(f"{where}: expected a list, got {value!r}")
        (a,) = typing.get_args(tp)
        return [_check(v, a, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError(f"{where}: expected a table, got {value!r}")
        return dict(value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    return value


def from_dict(cls: type, data: dict[str, Any], where: str = "config") -> Any:
    """Build dataclass ``cls`` from a dict, checking every key and type."""
    if not isinstance(data, dict):
        raise TypeError(f"{where}: expected a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in data if k not in names]
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; valid keys: {names}")
    kwargs = {k: _check(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    out = dataclasses.asdict(cfg)

    def strip_none(d: Any) -> Any:  # TOML has no null
        if isinstance(d, dict):
            return {k: strip_none(v) for k, v in d.items() if v is not None}
        return d

    return strip_none(out)


def _tomllib() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        import tomli as tomllib
    return tomllib


def load_toml(path: str | Path) -> RunConfig:
    tomllib = _tomllib()
    with open(path, "rb") as f:
        data = tomllib.load(f)
    return from_dict(RunConfig, data)


def dump_toml(cfg: RunConfig, path: str | Path) -> None:
    import tomli_w

    from postcouple.train.checkpoint import atomic_write_bytes

    atomic_write_bytes(Path(path), tomli_w.dumps(to_dict(cfg)).encode())


def apply_overrides(cfg: RunConfig, sets: list[str]) -> RunConfig:
    """Apply ``key=value`` overrides (``rl.beta=0.04``; values parsed as TOML)."""
    tomllib = _tomllib()
    data = to_dict(cfg)
    for s in sets:
        key, sep, raw = s.partition("=")
        if not sep or not key:
            raise ValueError(f"--set: expected key=value, got {s!r}")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare string
        node = data
        parts = key.strip().split(".")
        for p in parts[:-1]:
            if p not in node or not isinstance(node[p], dict):
                raise ValueError(f"--set {key}: {p!r} is not a section")
            node = node[p]
        node[parts[-1]] = value
    return from_dict(RunConfig, data)
