"""The first screen: headline figure, verdict table and at most five findings, on
synthetic runs with a known crossover and on the saved run."""

from __future__ import annotations

from pathlib import Path

import pytest

from profiler.analyze.tables import records_frame
from profiler.report import answer
from profiler.report.document import Bullets, Image, Paragraph, Table
from profiler.report.inputs import load_inputs
from tests.test_verdicts import _row, inputs_of, textbook_run

SAVED_RUN = Path(__file__).parent / "data" / "run_small"


def test_the_first_screen_is_status_figure_table_findings(tmp_path):
    section = answer.section(inputs_of(textbook_run(), tmp_path), tmp_path)
    kinds = [type(b) for b in section.blocks]
    assert kinds == [Paragraph, Image, Table, Bullets]
    assert section.blocks[0].text == "64 points: 64 ok."
    assert section.blocks[1].path == tmp_path / "headline.png"
    assert (tmp_path / "headline.png").stat().st_size > 10_000
    assert len(section.blocks[3].items) <= answer.MAX_FINDINGS


def test_the_crossover_of_a_known_pair_is_found_and_said():
    # LSTM 1e-5·n s; Transformer 1e-3 + 1e-7·n + 1e-9·n² s at batch 8, 2 threads (the
    # reference): equal near n = 102, so the grid's 64 and 128 bracket the crossing
    df = textbook_run()
    ref = answer.V.reference(df)
    row = answer.crossover(inputs_of(df), ref, "inference")
    assert 64 < row["n_cross"] < 128
    assert answer.crossover_text(row, df).startswith(f"crossover at n ≈ {round(row['n_cross'])}: "
                                                    "LSTM slower beyond")
    sentence = answer.crossover_finding(inputs_of(df), ref)
    assert sentence.startswith("For inference the Transformer is faster up to n ≈ "
                               f"{round(row['n_cross'])}, the LSTM beyond")


def test_no_crossover_is_said_with_the_ratio():
    rows = [_row("lstm", n, 1, 1, "inference", 2e-5 * n, 1e3 * n) for n in (64, 128, 256)]
    rows += [_row("transformer", n, 1, 1, "inference", 1e-5 * n, 1e3 * n) for n in (64, 128, 256)]
    df = records_frame(rows)
    ref = answer.V.reference(df)
    assert answer.crossover_text(answer.crossover(inputs_of(df), ref, "inference"), df) == \
        "no crossover up to n = 256: Transformer faster throughout"
    assert answer.crossover_finding(inputs_of(df), ref) == (
        "For inference the Transformer is faster at every n up to 256 (2.00× at n = 256).")


def test_the_n2_finding_quotes_the_fitted_share():
    # c·n² = 1.68e-2 of 1.82e-2 s at n = 4096, batch 8, 2 threads: 92%
    assert answer.quadratic_finding(inputs_of(textbook_run()),
                                    answer.V.reference(textbook_run())) == (
        "At n = 4096 attention's n² term is 92% of the Transformer's inference time "
        "(fitted a + b·n + c·n²).")


def test_health_is_a_finding_only_when_something_is_off():
    df = textbook_run()
    assert answer.health_finding(df) is None
    df.loc[0, "status"] = "oom"
    df.loc[1, "contended"] = True
    assert answer.health_finding(df) == (
        "1 of 64 points did not run (1 oom; see What is missing); 1 was contended and left "
        "out of every fit (see Run health).")


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_without_both_families_the_screen_says_so(tmp_path, family):
    df = textbook_run()
    section = answer.section(inputs_of(df[df["family"] == family], tmp_path), tmp_path)
    assert [type(b) for b in section.blocks] == [Paragraph, Paragraph]
    assert "no clean LSTM and Transformer points" in section.blocks[1].text
    assert not (tmp_path / "headline.png").exists()


def test_the_saved_run_gives_a_full_first_screen(tmp_path):
    section = answer.section(load_inputs(SAVED_RUN), tmp_path)
    assert [type(b) for b in section.blocks] == [Paragraph, Image, Table, Bullets]
    assert len(section.blocks[2].rows) == 7
    assert 1 <= len(section.blocks[3].items) <= 5
