import pytest

from postcouple.train.schedule import StageSpec, parse_schedule


def kinds(s):
    return [(x.kind, x.steps) for x in parse_schedule(s)]


def test_two_stages():
    assert kinds("sft:300,rl:50") == [("sft", 300), ("rl", 50)]


def test_alt_expands_and_nests():
    assert kinds("alt(sft:10,rl:5)x3") == [("sft", 10), ("rl", 5)] * 3
    assert kinds("sft:1, alt(alt(rl:1)x2,sft:2)x2 ,joint:4") == (
        [("sft", 1)] + [("rl", 1), ("rl", 1), ("sft", 2)] * 2 + [("joint", 4)]
    )


@pytest.mark.parametrize(
    "bad",
    ["", "sft", "sft:0", "ppo:3", "sft:3,", "alt(sft:1", "alt(sft:1)x0", "sft:3 rl:2", "rl:-1"],
)
def test_bad_schedules_name_the_problem(bad):
    with pytest.raises(ValueError, match="schedule"):
        parse_schedule(bad)


def test_type_error():
    with pytest.raises(TypeError):
        parse_schedule(3)


def test_stage_spec_validates():
    with pytest.raises(ValueError):
        StageSpec("sft", 0)


def test_method_kinds_parse_alone_and_inside_alt():
    assert kinds("sft:100,chord:50") == [("sft", 100), ("chord", 50)]
    assert kinds("alt(luffy:2,hpt:1)x2,relift:3,uft:4") == (
        [("luffy", 2), ("hpt", 1)] * 2 + [("relift", 3), ("uft", 4)]
    )


def test_unknown_kind_lists_the_method_kinds():
    with pytest.raises(ValueError, match=r"chord, luffy, hpt, relift, uft"):
        parse_schedule("sft:1,lufy:2")
