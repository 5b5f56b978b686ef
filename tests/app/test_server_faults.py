"""Server faults as the user sees them: the Instruction Lab against a scripted fake server.

Each fault (persistent 500, 429, an HTML body, a wrong vector count, NaN, a dimension change
between calls) must give a clear st.error, no exception, no results and nothing written to the
embedding cache; once the fault is gone, pressing Compare again succeeds. The sidebar's
connection probe (input "connection test") is always answered well, so it never eats a fault.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from embedlab.cache import EmbeddingCache
from tests.support import fakeserver
from tests.support.apptest import INSTRUCTIONS, open_page
from tests.support.markdown import shown

PROBE_TEXT = "connection test"


def _json(body: dict) -> tuple[int, str, bytes]:
    return 200, "application/json", json.dumps(body).encode()


def _vectors_answer(req: dict, count_delta: int = 0, value: float | None = None):
    ok = json.loads(fakeserver.ok()(req)[2])
    data = ok["data"][: len(ok["data"]) + count_delta]
    if value is not None:
        for item in data:
            item["embedding"][1] = value
    # json.dumps writes NaN as the bare token NaN, which Python's json (and the client) accept.
    return _json({**ok, "data": data})


FAULTS = {
    "500": (fakeserver.status(500, '{"error": {"message": "worker crashed"}}'), "HTTP 500"),
    "429": (fakeserver.status(429, '{"error": {"message": "slow down"}}'), "429 (rate limited)"),
    "html": (fakeserver.status(200, "<html><body>Sign in to the proxy</body></html>", "text/html"), "not JSON"),
    "wrong-count": (lambda req: _vectors_answer(req, count_delta=-1), "vectors for"),
    "nan": (lambda req: _vectors_answer(req, value=float("nan")), "NaN"),
    "dimension-change": (fakeserver.ok(dim=6), "changed dimension"),
}


class Switch:
    """The fake server's behaviour for page requests; the probe is always answered well."""

    def __init__(self, server: fakeserver.FakeServer) -> None:
        self.mode: fakeserver.Answer = fakeserver.ok()
        self.page_requests = 0
        server.plan = [self.answer]

    def answer(self, req: dict) -> tuple[int, str, bytes]:
        if req.get("input") == [PROBE_TEXT]:
            return fakeserver.ok()(req)
        self.page_requests += 1
        return self.mode(req)


@pytest.fixture
def fake_env(monkeypatch, tmp_path, fake_server) -> Path:
    for key in ("EMBEDDING_API_KEY", "EMBEDDING_DIMENSIONS", "CHROMA_HOST", "RERANK_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("EMBEDDING_BASE_URL", fake_server.url)
    monkeypatch.setenv("EMBEDDING_MODEL", "fake")
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def _set_texts(at: AppTest, tag: str) -> None:
    """Texts no earlier round embedded, so every Compare really asks the server (one instruction:
    the sample set's alternatives are taken out of the comparison)."""
    at.multiselect(key="instr.w.compare").set_value([])
    at.text_area(key="instr.w.queries").set_value(f"how long is leave ({tag})\nwho approves travel ({tag})")
    at.text_area(key="instr.w.documents").set_value(f"Leave is 25 days ({tag})\nTravel needs a manager ({tag})")
    [apply] = [b for b in at.button if b.label == "Apply texts"]
    apply.click().run()


def _compare(at: AppTest) -> AppTest:
    at.button(key="instr.run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _cached(data_dir: Path) -> int:
    return len(EmbeddingCache(str(data_dir / "embeddings.sqlite")))


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_gives_clear_error_then_the_same_action_succeeds(fault, fake_env, fake_server):
    switch = Switch(fake_server)
    at = open_page(INSTRUCTIONS, 60)
    assert not at.exception and not at.error, [e.value for e in at.error]
    if fault == "dimension-change":  # a first answer fixes the dimension (8) for this embedder
        _set_texts(at, "first")
        assert _compare(at).get("plotly_chart")
    before, asked = _cached(fake_env), switch.page_requests
    answer, message = FAULTS[fault]
    switch.mode = answer
    start = time.monotonic()
    _set_texts(at, fault)  # once results are shown, applying new texts embeds them at once
    _compare(at)
    errors = [shown(e.value) for e in at.error]
    assert any(message in e for e in errors), errors
    assert not at.get("plotly_chart") and "4 · Results" not in [h.value for h in at.subheader]
    assert switch.page_requests > asked and time.monotonic() - start < 30  # bounded retries
    assert _cached(fake_env) == before  # nothing partial was written

    switch.mode = fakeserver.ok()
    _compare(at)  # the same click, same texts
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == 3  # without, with, difference
    assert _cached(fake_env) == before + 6  # 2 queries x (with, without) + 2 documents


def test_one_transient_500_is_retried_without_bothering_the_user(fake_env, fake_server):
    switch = Switch(fake_server)
    at = open_page(INSTRUCTIONS, 60)
    _set_texts(at, "transient")
    failures = iter([fakeserver.status(500)])
    switch.mode = lambda req: next(failures, fakeserver.ok())(req)
    _compare(at)
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == 3 and switch.page_requests == 2


def test_text_over_the_context_is_explained_and_the_other_texts_are_kept(fake_env, fake_server):
    """Like sglang/vLLM: any request holding the over-long document gets a 400 with the server's text."""
    switch = Switch(fake_server)
    context_error = '{"error": {"message": "Input length 40000 exceeds the context length 32768"}}'

    def refuse_long(req: dict) -> tuple[int, str, bytes]:
        if any(len(t) > 5_000 for t in req["input"]):
            return fakeserver.status(400, context_error)(req)
        return fakeserver.ok()(req)

    switch.mode = refuse_long
    at = open_page(INSTRUCTIONS, 60)
    at.multiselect(key="instr.w.compare").set_value([])
    at.text_area(key="instr.w.queries").set_value("how long is leave (context)\nwho approves travel (context)")
    at.text_area(key="instr.w.documents").set_value("Leave is 25 days (context)\n" + "policy text " * 1_000)
    [apply] = [b for b in at.button if b.label == "Apply texts"]
    apply.click().run()
    _compare(at)
    errors = " ".join(shown(e.value) for e in at.error)
    assert "rejected 1 of 6" in errors and "exceeds the context length 32768" in errors, errors
    assert "2,000 tokens" in errors and "other 5 were embedded and kept" in errors, errors
    # Which input it was, by name: queries are sent with and without the instruction, so the
    # position in the request alone would not tell the user.
    [rejected] = [d.value for d in at.dataframe if "starts with" in d.value.columns]
    assert rejected.to_dict("records") == [
        {"input": "document 2", "tokens": 2_000, "starts with": ("policy text " * 10)}]
    assert not at.get("plotly_chart")
    # The short document was embedded and cached, the rejected one was not.
    cache, model = EmbeddingCache(str(fake_env / "embeddings.sqlite")), f"fake@{fake_server.url}"
    assert cache.get_many(model, None, ["Leave is 25 days (context)"])
    assert not cache.get_many(model, None, ["policy text " * 1_000])
    assert _cached(fake_env) == 5


def test_a_hung_server_costs_one_bounded_wait_and_the_page_recovers(fake_env, fake_server, monkeypatch):
    monkeypatch.setenv("EMBEDDING_TIMEOUT", "4")  # the configured wait, not the 30 s default
    switch = Switch(fake_server)
    at = open_page(INSTRUCTIONS, 60)
    _set_texts(at, "hang")
    switch.mode = fakeserver.hang(120)
    start = time.monotonic()
    _compare(at)
    waited = time.monotonic() - start
    errors = " ".join(shown(e.value) for e in at.error)
    # One timeout plus the retry budget (embedlab.backends: timeout + min(10, timeout)), not 120 s.
    assert "did not answer within 4 s" in errors and waited < 20, (errors, waited)
    assert not at.get("plotly_chart") and _cached(fake_env) == 0
    switch.mode = fakeserver.ok()
    _compare(at)
    assert not at.error and len(at.get("plotly_chart")) == 3
