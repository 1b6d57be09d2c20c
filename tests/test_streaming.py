"""Decode rows in the analysis: per-token latency and state vs context, kept apart from the
other phases' fits (tests/data/run_small has decode rows for every curve)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from profiler.analyze import tables as A
from profiler.run.store import load_results

RUN = Path(__file__).parent / "data" / "run_small"


@pytest.fixture(scope="module")
def records() -> pd.DataFrame:
    return A.records_frame(load_results(RUN))


def test_decode_scaling_state_and_latency(records):
    dec = A.decode_scaling(records).set_index(["model", "batch_size", "threads"])
    assert len(dec) == 8  # 2 models x 2 batches x 2 thread counts
    lstm, trf = dec.loc[("lstm", 8, 2)], dec.loc[("transformer", 8, 2)]
    # (h, c): 2 layers x 2 x (B=8, H=64) x 4 bytes, whatever the context
    assert lstm["state_min_n_bytes"] == lstm["state_max_n_bytes"] == 2 * 2 * 8 * 64 * 4
    assert lstm["state_k"] == pytest.approx(0.0, abs=1e-9)
    assert abs(lstm["latency_k"]) < 0.02
    # K and V: 2 layers x 2 x (B=8, n + 1 positions, d=64) x 4 bytes: linear in n
    assert trf["state_max_n_bytes"] == 2 * 2 * 8 * 2049 * 64 * 4
    assert trf["state_k"] == pytest.approx(1.0, abs=0.02)
    assert trf["latency_k_upper"] > 0.5 > trf["latency_k"] > 0.3  # the cache read takes over
    rec = records[(records["model"] == "transformer") & (records["phase"] == "decode")
                  & (records["batch_size"] == 8) & (records["threads"] == 2)
                  & (records["seq_len"] == 2048)].iloc[0]
    assert trf["latency_max_n_s"] == rec["latency_s"]
    assert trf["tokens_per_s_max_n"] == pytest.approx(8 / rec["latency_s"])  # B per call


def test_decode_rows_stay_out_of_the_other_phases(records):
    without = records[records["phase"] != "decode"]
    cols = ["model", "batch_size", "threads", "phase", "k", "k_upper"]
    exps = A.exponents(records)
    assert set(exps["phase"]) == {"inference", "train_step", "decode"}
    pd.testing.assert_frame_equal(exps[exps["phase"] != "decode"][cols].reset_index(drop=True),
                                  A.exponents(without)[cols].reset_index(drop=True))
    # latency / n is a per-position cost of a whole-sequence call, not of a decode token
    assert "decode" not in set(A.per_token_latency(records, 1)["phase"])
    pd.testing.assert_frame_equal(A.sequential_floor(records), A.sequential_floor(without))
    assert A.decode_scaling(without).empty
