"""One Document, two writers: every block type in HTML (self-contained, escaped) and in
Markdown (relative links, escaped cells), and the files written whole."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from profiler.report import html, markdown
from profiler.report.document import (
    Alert,
    Bullets,
    Code,
    Document,
    Image,
    Links,
    Paragraph,
    Section,
    Strong,
    Table,
    images,
)
from profiler.report.writer import write_document

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
                       "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")  # 1x1 pixel


@pytest.fixture
def doc(tmp_path) -> Document:
    (tmp_path / "figures").mkdir()
    png = tmp_path / "figures" / "f.png"
    png.write_bytes(PNG)
    return Document("A <title>", "run x", [
        Section("First & last", [
            Paragraph("a < b"),
            Bullets(["one", "two | three"]),
            Alert("WARNING:", "x -> y"),
            Table(["point", "ms"], [["a|b", "1.5"], ["c", Strong("regressed")]], "caption",
                  numeric=frozenset({1}), row_classes=["", "regressed"]),
        ]),
        Section("More", [
            Image(png, "Figure", "what it shows"),
            Links([("trace", "traces/t.json", "— note")]),
            Code('name = "x"\n', "sweep.toml"),
            Table(["k"], [["v"]], "folded", collapsed=True),
        ]),
    ], style="tr.regressed td { color: red; }")


def test_html_is_escaped_self_contained_and_styled(doc):
    page = html.render(doc)
    assert "<title>A &lt;title&gt;</title>" in page and "<p>a &lt; b</p>" in page
    # the contents list follows the first section (a report's answer) and lists the rest
    assert '<a href="#more">More</a>' in page and '<a href="#first-last">' not in page
    assert page.index('<section id="first-last">') < page.index("<nav>") < \
        page.index('<section id="more">')
    assert '<div class="alert"><strong>WARNING:</strong> x -&gt; y</div>' in page
    assert '<tr class="regressed"><td>c</td><td class="num"><strong>regressed</strong></td>' \
        in page
    assert "<tr><td>a|b</td>" in page and "tr.regressed td { color: red; }" in page
    (src,) = re.findall(r'<img src="([^"]+)"', page)
    assert base64.b64decode(src.split(",", 1)[1]) == PNG  # embedded, not linked
    assert '<figcaption><b>Figure.</b> what it shows</figcaption>' in page
    assert '<a href="traces/t.json">trace</a> — note' in page  # linked in place
    assert "<details><summary>folded</summary>" in page
    assert "<script" not in page and "http" not in page


def test_markdown_links_relative_and_escapes_cells(doc, tmp_path):
    text = markdown.render(doc, tmp_path)
    assert text.startswith("# A <title>\n\n_run x_\n\n## First & last\n\na < b\n")
    assert "| point | ms |\n|---|---:|\n| a\\|b | 1.5 |\n| c | **regressed** |" in text
    assert "> **WARNING:** x -> y" in text and "- two | three" in text
    assert "![Figure](figures/f.png)\n\n*Figure.* what it shows" in text
    assert "- [trace](traces/t.json) — note" in text
    assert '```toml\nname = "x"\n```' in text
    assert "<details><summary>folded</summary>\n\n| k |" in text
    # from another folder the figure link still resolves
    assert "](../figures/f.png)" in markdown.render(doc, tmp_path / "sub")


def test_write_document_writes_both_files_whole(doc, tmp_path):
    written = write_document(doc, tmp_path / "report")
    assert written == [tmp_path / "report.html", tmp_path / "report.md"]
    assert (tmp_path / "report.md").read_text() == markdown.render(doc, tmp_path)
    assert (tmp_path / "report.html").read_text() == html.render(doc)
    assert write_document(doc, tmp_path / "only", ("md",)) == [tmp_path / "only.md"]
    assert not (tmp_path / "only.html").exists()
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind
    assert images(doc) == [tmp_path / "figures" / "f.png"]


def test_an_unknown_block_is_an_error(tmp_path):
    doc = Document("t", "", [Section("s", ["not a block"])])
    with pytest.raises(TypeError, match="unknown block str"):
        html.render(doc)
    with pytest.raises(TypeError, match="unknown block str"):
        markdown.render(doc, Path("."))
