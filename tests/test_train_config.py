import pytest

from postcouple.train.config import RunConfig, apply_overrides, dump_toml, from_dict, load_toml


def test_toml_round_trip(tmp_path):
    cfg = RunConfig(schedule="alt(sft:2,rl:1)x2", seed=7)
    cfg.rl.beta = 0.04
    cfg.rl.epsilon_high = 0.28
    cfg.task.options = {"max_operand": 5, "formats": {"tag": 1.0}}
    dump_toml(cfg, tmp_path / "c.toml")
    assert load_toml(tmp_path / "c.toml") == cfg


def test_unknown_key_names_the_valid_keys():
    with pytest.raises(ValueError, match=r"unknown key.*'betaa'.*valid keys.*'beta'"):
        from_dict(RunConfig, {"rl": {"betaa": 0.1}})


@pytest.mark.parametrize(
    "data",
    [{"seed": "1"}, {"rl": {"num_generations": 2.5}}, {"sft": {"packing": 1}}, {"rl": 3}],
)
def test_ill_typed_keys(data):
    with pytest.raises(TypeError, match=r"config\."):
        from_dict(RunConfig, data)


def test_overrides():
    cfg = apply_overrides(RunConfig(), ["rl.beta=0.5", "schedule=sft:3,rl:1", "model.name=tiny"])
    assert cfg.rl.beta == 0.5 and cfg.schedule == "sft:3,rl:1" and cfg.model.name == "tiny"
    with pytest.raises(ValueError, match="key=value"):
        apply_overrides(RunConfig(), ["rl.beta"])
    with pytest.raises(ValueError, match="unknown key"):
        apply_overrides(RunConfig(), ["rl.nope=1"])
    with pytest.raises(ValueError, match="not a section"):
        apply_overrides(RunConfig(), ["nope.x=1"])


@pytest.mark.parametrize(
    "data, match",
    [
        ({"model": {"dtype": "fp16"}}, r"model\.dtype: expected one of \['auto', 'float32'"),
        ({"sft": {"lr_scheduler_type": "step"}}, r"sft\.lr_scheduler_type: expected one of"),
        ({"rl": {"loss_agg_mode": "mean"}}, r"rl\.loss_agg_mode: expected one of"),
        ({"rl": {"kl_estimator": "k4"}}, r"rl\.kl_estimator: expected one of"),
        ({"rl": {"scale_rewards": "std"}}, r"rl\.scale_rewards: expected one of"),
        ({"rl": {"estimator": "ppo"}}, r"rl\.estimator: expected one of"),
        ({"rl": {"num_mini_batches": 3}}, r"num_mini_batches must divide"),
        ({"rl": {"top_p": 0.0}}, r"rl\.top_p"),
        ({"rl": {"temperature": 0}}, r"rl\.temperature"),
        ({"sft": {"warmup_ratio": 1.5}}, r"sft\.warmup_ratio"),
        ({"joint": {"mu": 1.5}}, r"joint\.mu"),
        ({"chord": {"mu_schedule": "cosine"}}, r"chord\.mu_schedule: expected one of"),
        ({"chord": {"mu_peak": 1.5}}, r"chord\.mu_peak: must be in \[0, 1\]"),
        ({"luffy": {"gamma": 0.0}}, r"luffy\.gamma: must be > 0"),
        ({"luffy": {"scale_rewards": "std"}}, r"luffy\.scale_rewards: expected one of"),
        ({"hpt": {"gamma": -1}}, r"hpt\.gamma: must be >= 0"),
        ({"relift": {"buffer_size": 0}}, r"relift\.buffer_size: must be >= 1"),
        ({"uft": {"p_low": 0.99}}, r"uft\.p_low: must be in \[0, 0\.95\]"),
        ({"eval": {"interval": 0}}, r"eval\.interval: must be >= 1"),
        ({"checkpoint_interval": 0}, r"config\.checkpoint_interval"),
        ({"schedule": "sft:0"}, r"schedule"),
    ],
)
def test_bad_values_are_clear_errors(data, match):
    with pytest.raises(ValueError, match=match):
        from_dict(RunConfig, data)


def test_values_set_after_construction_are_checked_by_validate():
    from postcouple.train.config import RLConfig

    with pytest.raises(ValueError, match="rl.loss_agg_mode"):
        RLConfig(loss_agg_mode="mean")  # type: ignore[arg-type]
    cfg = RunConfig()
    cfg.rl.kl_estimator = "k9"  # type: ignore[assignment]
    with pytest.raises(ValueError, match=r"rl\.kl_estimator: expected one of \['k1', 'k2', 'k3'\]"):
        cfg.validate()
    cfg = RunConfig()
    cfg.uft.num_chunks = 0
    with pytest.raises(ValueError, match=r"uft\.num_chunks: must be >= 1"):
        cfg.validate()


def test_method_sections_round_trip_and_override(tmp_path):
    cfg = RunConfig(schedule="sft:2,chord:3")
    cfg.chord.mu_schedule = "constant"
    cfg.luffy.num_expert = 2
    cfg.uft.t_hint = 7
    dump_toml(cfg, tmp_path / "c.toml")
    assert load_toml(tmp_path / "c.toml") == cfg
    cfg = apply_overrides(cfg, ["chord.mu_peak=0.7", "hpt.gamma=2", "relift.buffer_size=4"])
    assert (cfg.chord.mu_peak, cfg.hpt.gamma, cfg.relift.buffer_size) == (0.7, 2, 4)
    with pytest.raises(ValueError, match=r"config\.chord\.mu_schedule: expected one of"):
        apply_overrides(cfg, ["chord.mu_schedule=cosine"])
    with pytest.raises(ValueError, match=r"uft\.num_chunks"):
        apply_overrides(cfg, ["uft.num_chunks=0"])
