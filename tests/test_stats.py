import pytest

from profiler.measure.stats import summarize


def test_quartiles_by_hand():
    # sorted: 1 2 3 4 10; linear interpolation: q25 at index 1 -> 2, q75 at index 3 -> 4
    s = summarize([4.0, 1.0, 10.0, 3.0, 2.0])
    assert (s.median, s.q25, s.q75, s.min, s.n) == (3.0, 2.0, 4.0, 1.0, 5)
    assert s.mean == pytest.approx(4.0)
    assert s.iqr == 2.0
    assert s.rel_iqr == pytest.approx(2 / 3)
    assert s.noisy


def test_interpolated_quartiles_even_count():
    # 1 2 3 4: q25 at index 0.75 -> 1.75, median 2.5, q75 at index 2.25 -> 3.25
    s = summarize([1.0, 2.0, 3.0, 4.0])
    assert (s.q25, s.median, s.q75) == (1.75, 2.5, 3.25)
    assert s.rel_iqr == pytest.approx(1.5 / 2.5)


def test_quiet_samples_not_noisy():
    s = summarize([1.00, 1.01, 0.99, 1.02, 1.00])
    assert s.rel_iqr == pytest.approx(0.01 / 1.00)
    assert not s.noisy


def test_no_samples_is_an_error():
    with pytest.raises(ValueError):
        summarize([])
