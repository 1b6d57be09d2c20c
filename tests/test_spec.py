from profiler.grid import expand
from profiler.spec import load_spec, parse_spec, to_toml


def test_presets_load_and_round_trip(in_repo):
    for name in ("smoke", "default", "gpu", "streaming", "backends"):
        spec = load_spec(name)
        assert parse_spec(to_toml(spec), "again") == parse_spec(to_toml(spec), "again")
        again = parse_spec(to_toml(spec), spec.source)
        assert again.grid == spec.grid and again.models == spec.models
        assert again.budget == spec.budget and again.timing == spec.timing


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
