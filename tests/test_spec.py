import pytest

from profiler.run.grid import expand
from profiler.run.spec import load_spec, parse_spec, to_toml


def test_presets_load_and_round_trip(in_repo):
    for name in ("smoke", "default", "gpu", "streaming", "backends"):
        spec = load_spec(name)
        # what --resume reads back from sweep.toml is the spec that ran, every field of it
        assert parse_spec(to_toml(spec), spec.source) == spec


def test_default_preset_reaches_4096_with_three_families(in_repo):
    spec = load_spec("default")
    assert max(spec.grid["seq_len"]) == 4096 and min(spec.grid["seq_len"]) < 100
    assert set(spec.grid["model"]) == {"lstm", "transformer", "mingru"}
    assert set(spec.grid["threads"]) == {1, 2}  # each family at its best thread count
    for name in ("streaming", "gpu"):  # the third family joins these presets too
        assert "mingru" in load_spec(name).grid["model"]


def test_attention_axis_keeps_recurrent_models_at_default():
    spec = parse_spec("[grid]\nmodel=['lstm','mingru','transformer']\nseq_len=[8]\n"
                      "attention=['default','math']\n")
    assert sorted((p.model, p.attention) for p in expand(spec)) == [
        ("lstm", "default"), ("mingru", "default"), ("transformer", "default"),
        ("transformer", "math")]


def test_grid_is_product_small_to_large():
    spec = parse_spec("[grid]\nmodel=['lstm','transformer']\nseq_len=[64,8,32]\n"
                      "batch_size=[4,1]\nphase=['inference','train_step']\n")
    points = expand(spec)
    assert len(points) == 2 * 3 * 2 * 2
    assert len({p.point_id for p in points}) == len(points)
    # within each curve, seq_len only grows
    seen = {}
    for p in points:
        assert p.seq_len > seen.get(p.series, 0)
        seen[p.series] = p.seq_len
    work = [p.tokens for p in points]
    assert work == sorted(work)


def test_variant_and_factory_models():
    spec = parse_spec("[grid]\nmodel=['wide','mine']\nseq_len=[8]\n"
                      "[models.wide]\nbase='lstm'\nhidden=128\n"
                      "[models.mine]\nfactory='pkg.mod:build'\nanything=1\n")
    assert spec.models["wide"] == {"base": "lstm", "hidden": 128}
    assert spec.models["mine"]["anything"] == 1


def test_factory_arguments_of_every_toml_kind_round_trip():
    """sweep.toml must read back as the spec that ran (--resume compares the two)."""
    import datetime

    spec = parse_spec(
        'description = "two\\nlines, a \\"quote\\", a \\u0007 bell and caf\u00e9"\n'
        "[grid]\nmodel = ['my.model']\nseq_len = [8]\n"
        '[models."my.model"]\nfactory = "tests.fake_models:broken"\n'
        'opts = {depth = 2, "odd key" = [1, {a = 1979-05-27}], '
        "when = 1979-05-27T07:32:00+01:00}\n"
        't = 07:32:00.5\n"x y" = -1e300\n')
    assert spec.models["my.model"]["opts"]["odd key"][1]["a"] == datetime.date(1979, 5, 27)
    assert parse_spec(to_toml(spec)) == spec


def test_models_are_checked_on_the_meta_device(in_repo):
    from profiler.errors import UsageError
    from profiler.run.spec import check_models

    text = ("[grid]\nmodel = ['t', 'real']\nseq_len = [8]\n"
            "[models.t]\nbase = 'transformer'\nd_model = 8\nheads = {heads}\n"
            # reads a tensor's value while building: impossible on meta, built on the CPU
            "[models.real]\nfactory = 'tests.fake_models:needs_real_tensors'\n")
    check_models(parse_spec(text.format(heads=2), "f.toml"))
    with pytest.raises(UsageError) as e:
        check_models(parse_spec(text.format(heads=3), "f.toml"))
    assert str(e.value) == "f.toml: model 't': transformer: d_model=8 is not divisible by heads=3"


def test_presets_resolve_from_any_directory(tmp_path, monkeypatch):
    """The sweeps/ beside the package is found wherever the sweep is started."""
    monkeypatch.chdir(tmp_path)  # no ./sweeps here
    from profiler.run.spec import preset_names

    assert load_spec("smoke").name == "smoke"
    assert {"smoke", "default"} <= set(preset_names())
