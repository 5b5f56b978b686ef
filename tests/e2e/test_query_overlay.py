"""The Clusters page in chromium: a question asked on a stored collection's maps is drawn on both,
with its dense, BM25 and hybrid hits ringed in hit / miss colours (a bundled labelled set's question)."""

from __future__ import annotations

import subprocess
import sys

from embedlab.evaluation.datasets import load_bundled
from embedlab.figures import hover_text
from embedlab.figures.maps import HIT_COLOURS
from tests.support.browser import ROOT, shot, wait_drawn, wait_idle
from tests.support.labelled import HANDBOOK

# Per drawn map: the question's trace and, per retrieval mode, the colours of its rings.
OVERLAY_TRACES = """() => [...document.querySelectorAll('.js-plotly-plot')]
    .filter(gd => (gd.data || []).some(t => t.name === 'your question'))
    .map(gd => ({
        question: gd.data.filter(t => t.name === 'your question').map(t => t.text),
        rings: Object.fromEntries(gd.data.filter(t => t.mode === 'markers' && t.legendgroup)
            .map(t => [t.legendgroup, {colours: Array.from(t.marker.color), symbol: t.marker.symbol}])),
        lines: gd.data.filter(t => t.mode === 'lines' && t.legendgroup).length,
    }))"""


def test_a_question_and_its_hits_are_drawn_on_both_maps(start_app, embedding_server, page, tmp_path):
    # In a process of its own: an embedded Chroma database stays locked to the process that opened it.
    subprocess.run([sys.executable, "-c", "import sys; from tests.support.labelled import fill_with_set; "
                    "fill_with_set(sys.argv[1], 'handbook_v1', sys.argv[2])", str(tmp_path / "data"), embedding_server],
                   cwd=ROOT, check=True, timeout=120)
    url = start_app()
    query = load_bundled(HANDBOOK).queries[0]
    relevant = {d for d, grade in query.relevant.items() if grade >= 1}
    page.goto(f"{url}/Clusters")
    wait_idle(page)
    page.get_by_text("Stored collection").click()
    wait_drawn(page, page.get_by_text("41 chunks from handbook_v1"))
    page.get_by_role("button", name="Build maps").click()
    page.get_by_text("Queries and what they retrieve").wait_for(timeout=180_000)
    wait_idle(page)
    box = page.get_by_role("textbox", name="Question")
    box.fill(query.text)
    page.get_by_role("spinbutton", name="Top K").fill("5")
    page.get_by_role("button", name="Show what it retrieves").click()
    page.wait_for_function(f"() => ({OVERLAY_TRACES})().length === 2", timeout=60_000)
    wait_idle(page)
    drawn = page.evaluate(OVERLAY_TRACES)
    body = page.inner_text("body")
    assert "relevant chunks (those of the documents the labelled set marks relevant)" in body
    green, red = HIT_COLOURS[True], HIT_COLOURS[False]
    for one in drawn:
        assert one["question"] == [[hover_text(query.text, 30)]]
        assert {"dense", "hybrid"} <= set(one["rings"]) and one["lines"] == len(one["rings"])
        assert one["rings"]["dense"]["symbol"] == "circle-open" and len(one["rings"]["dense"]["colours"]) == 5
        assert all(c in (green, red) for ring in one["rings"].values() for c in ring["colours"])
    # A tab per retrieval mode holds its table; the sentence counts what the rings show.
    for tab in ("dense", "keyword (BM25)", "hybrid (RRF)"):
        assert page.get_by_role("tab", name=tab).count() == 1
    hits = sum(c == green for c in drawn[0]["rings"]["dense"]["colours"])
    assert f"dense retrieval finds {hits} in its top 5" in body
    assert hits <= len(relevant)
    # The question's star and its label are drawn in the SVG of each map.
    stars = page.locator(".js-plotly-plot .textpoint").filter(has_text=query.text[:10])
    assert stars.count() == 2
    shot(page, tmp_path, "clusters_query_overlay.png", 2600)
    assert not page.dialogs
