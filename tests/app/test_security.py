"""Security seen through AppTest: where the configured API key may go, credentials in URLs, and
untrusted text (names, file names, CSV headers, server answers, model ids) shown literally.

The untrusted-text tests drive one payload through every message site that can carry such text:
an outside image, LaTeX, HTML and bold. Each site must hand Streamlit's Markdown renderer text
that reads as the payload once its escapes are read, and no element of the page may carry the
payload raw.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.support.markdown import shown
from tests.support.untrusted_server import UntrustedServer

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sk-test-SECRET-5d2e81"
PASSWORD = "pw-SECRET-c4e7"


def page(name: str, timeout: float = 120) -> AppTest:
    at = AppTest.from_file(str(ROOT / name), default_timeout=timeout).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def apply_settings(at: AppTest, **fields: str) -> AppTest:
    """Fill the sidebar's Settings (conn.<field>) and press Apply."""
    for name, value in fields.items():
        [box] = [w for w in at.sidebar.text_input if w.key.startswith(f"conn.{name}")]  # conn.api_key.<n>
        box.set_value(value)
    [apply] = [b for b in at.sidebar.button if b.label == "Apply"]
    apply.click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_connection(at: AppTest) -> AppTest:
    return at.sidebar.button(key="conn.test").click().run()


test_connection.__test__ = False  # a helper, not a test


# --- item: the configured API key goes only to the configured server ------------------------------


@pytest.fixture
def servers(app_env, monkeypatch):
    """(configured, other): two recording servers; the configured one holds EMBEDDING_API_KEY."""
    configured, other = UntrustedServer("served-model"), UntrustedServer("served-model")
    monkeypatch.setenv("EMBEDDING_BASE_URL", configured.url + "/v1")
    monkeypatch.setenv("EMBEDDING_MODEL", "served-model")
    monkeypatch.setenv("EMBEDDING_API_KEY", SECRET)
    yield configured, other
    configured.close()
    other.close()


def sent_key(server: UntrustedServer) -> bool:
    return any(SECRET in (auth or "") for auth in server.keys_seen())


def test_the_configured_key_never_goes_to_a_base_url_a_visitor_types(servers):
    configured, other = servers
    at = page("app.py")
    assert sent_key(configured)  # the configured server gets the key (so the recorder would see it)
    apply_settings(at, base_url=other.url + "/v1")
    test_connection(at)
    assert {"/v1/models", "/v1/embeddings"} <= set(other.paths())
    # The Chunking page's server token count (/tokenize) and the Server check, in the same session.
    at.switch_page("pages/2_Chunking.py").run()
    at.radio(key="chunk.w.source").set_value("Paste").run()
    at.text_area(key="chunk.w.pasted").input("Visitors sign in at the front desk.").run()
    assert {"/v1/tokenize", "/tokenize"} <= set(other.paths())
    at.switch_page("pages/7_Server_check.py").run()
    at.multiselect(key="check.w.only").set_value(["tokens"])
    [run] = [b for b in at.button if b.label == "Run the server check"]
    run.click().run()
    assert not at.exception and at.session_state["check.report"] is not None
    assert not sent_key(other), other.requests
    # The visitor's own key goes to the visitor's server; another URL without a key forgets it.
    at.switch_page("app.py").run()
    apply_settings(at, api_key="sk-visitor-own")
    test_connection(at)
    assert "Bearer sk-visitor-own" in other.keys_seen()
    third = UntrustedServer("served-model")
    try:
        apply_settings(at, base_url=third.url + "/v1")
        test_connection(at)
        assert third.paths("/v1/embeddings") and third.keys_seen() == {"Bearer not-needed"}
    finally:
        third.close()


def test_the_configured_server_written_another_way_still_gets_its_key(servers):
    configured, _other = servers
    at = page("app.py")
    before = len(configured.requests)
    apply_settings(at, base_url=configured.url.upper())  # "HTTP://127.0.0.1:port": no /v1, upper case
    test_connection(at)
    assert len(configured.requests) > before
    assert all(SECRET in (auth or "") for _m, _p, auth in configured.requests[before:])


def test_a_locked_connection_cannot_be_changed_by_a_session(servers, monkeypatch):
    configured, other = servers
    monkeypatch.setenv("PLAYGROUND_LOCK_CONNECTION", "1")
    at = page("app.py")
    assert all(w.disabled for w in at.sidebar.text_input if w.key.startswith(("conn.base_url", "conn.api_key")))
    assert not at.sidebar.text_input(key="conn.model").disabled
    assert at.sidebar.radio(key="conn.backend").disabled
    assert any("PLAYGROUND_LOCK_CONNECTION" in c.value for c in at.sidebar.caption)
    # Even a crafted session (the widgets bypassed) cannot move the requests or take the key elsewhere.
    at.session_state["conn.overrides"] = {"embedding_base_url": other.url + "/v1", "embedding_api_key": "x"}
    test_connection(at)
    at.switch_page("pages/2_Chunking.py").run()
    at.radio(key="chunk.w.source").set_value("Paste").run()
    at.text_area(key="chunk.w.pasted").input("Visitors sign in at the front desk.").run()
    assert other.requests == []
    assert configured.paths("/tokenize") and sent_key(configured)
    # Model and dimensions stay per session.
    at.switch_page("app.py").run()
    apply_settings(at, model="another-model")
    assert at.session_state["conn.overrides"]["embedding_model"] == "another-model"
    assert any("another-model" in shown(m.value) for m in at.markdown)


# --- item: credentials inside a URL are neither shown nor stored ---------------------------------


def test_credentials_in_the_base_url_are_not_shown_or_stored(app_env, monkeypatch, embedding_server):
    from embedlab.stores.chroma import open_client

    host = embedding_server.split("://", 1)[1]
    monkeypatch.setenv("EMBEDDING_BASE_URL", f"http://user:{PASSWORD}@{host}")
    at = page("app.py")
    shown = [m.value for m in at.markdown] + [at.sidebar.text_input(key="conn.base_url").value]
    assert not any(PASSWORD in text for text in shown), shown
    assert at.sidebar.text_input(key="conn.base_url").value == embedding_server
    assert any("multilingual" in s.value for s in at.sidebar.success)  # connected through that URL
    # Apply with the shown address left as it is keeps the configured one (credentials and all).
    apply_settings(at, model="multilingual-e5-small-q4")
    assert "embedding_base_url" not in at.session_state["conn.overrides"]
    assert any("multilingual" in s.value for s in at.sidebar.success)

    at.switch_page("pages/4_Search.py").run()
    at.text_input(key="search.w.new_name").input("creds_v1")
    at.button(key="search.w.create").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    data_dir = Path(app_env["PLAYGROUND_DATA_DIR"])
    stored = open_client(path=str(data_dir / "chroma")).get_collection("creds_v1").metadata
    assert stored["model_id"] == "multilingual-e5-small-q4", stored
    assert not any(word in json.dumps(stored) for word in (PASSWORD, "user", "http")), stored
    every_text = [e.value for kind in ("markdown", "caption", "success", "info", "error") for e in getattr(at, kind)]
    assert not any(PASSWORD in text for text in every_text)


# --- item: untrusted text is shown literally -------------------------------------------------------


@pytest.fixture
def untrusted(app_env, monkeypatch):
    """A server whose model id and error bodies are the payload; the app points at it."""
    server = UntrustedServer("placeholder")
    server.payload = payload(server)
    monkeypatch.setenv("EMBEDDING_BASE_URL", server.url + "/v1")
    monkeypatch.setenv("EMBEDDING_MODEL", "fake")
    yield server
    server.close()


def payload(server: UntrustedServer) -> str:
    return f"![t]({server.url}/x.png) $x^2$ <b>b</b> **bold**"


RAW = ("![t](", "$x^2$", "<b>b</b>", "**bold**")  # the payload's Markdown, unescaped


def markdown_texts(at: AppTest) -> list[str]:
    """Every text of the page (sidebar included) that Streamlit renders as Markdown."""
    texts = []
    for kind in ("markdown", "caption", "error", "warning", "success", "info", "title", "header", "subheader",
                 "toast"):
        texts += [e.value for e in getattr(at, kind)]
    for kind in ("button", "text_input", "text_area", "selectbox", "multiselect", "radio", "number_input",
                 "checkbox", "toggle", "file_uploader"):
        texts += [getattr(w, "label", "") for w in getattr(at, kind)]
    texts += [getattr(w, "help", "") or "" for w in at.button]
    return texts


def assert_literal(at: AppTest, server: UntrustedServer, *sites: str) -> None:
    """The payload reaches the page only escaped: each site (a text fragment that identifies the
    element) reads as the payload once unescaped, and no Markdown text anywhere carries it raw."""
    texts = markdown_texts(at)
    for site in sites:
        assert any(site in shown(t) and server.payload in shown(t) for t in texts), (
            site, [t for t in texts if site in shown(t)])
    raw = [t for t in texts if any(fragment in t for fragment in RAW)]
    assert raw == [], raw
    assert not server.paths("/x.png")


def test_server_answers_and_model_ids_are_shown_literally(untrusted):
    at = page("app.py")
    assert_literal(at, untrusted, " answered")  # sidebar: the model id the server answers with
    assert_literal(at, untrusted, "The server answers with")  # the banner of every page
    # A model name typed by a visitor: Home, the Server check's caption and its verdict.
    apply_settings(at, model=untrusted.payload)
    assert_literal(at, untrusted, "Configured model:")
    at.switch_page("pages/7_Server_check.py").run()
    at.multiselect(key="check.w.only").set_value(["tokens"])
    [run] = [b for b in at.button if b.label == "Run the server check"]
    run.click().run()
    assert not at.exception
    assert_literal(at, untrusted, " at http", "The server lists")
    # A server's error body: the sidebar's connection test and the Benchmark's refusal to start.
    untrusted.fail_probe = True
    test_connection(at)
    assert_literal(at, untrusted, "The server rejected")
    at.switch_page("pages/6_Benchmark.py").run()
    small_benchmark(at)
    assert_literal(at, untrusted, "Not starting: the connection test failed.")
    # A run whose requests fail: its results heading names the model, its error the server's body.
    untrusted.fail_probe, untrusted.fail_requests = False, True
    test_connection(at)
    small_benchmark(at)
    assert at.session_state["bench.results"], [e.value for e in at.error]
    assert_literal(at, untrusted, "Results ·", "served as", "first error:")
    untrusted.spared = ()  # the warm-up request fails too: the run cannot start
    small_benchmark(at)
    assert_literal(at, untrusted, "The benchmark could not run")


def small_benchmark(at: AppTest) -> AppTest:
    at.multiselect(key="bench.lengths").set_value(["short"])
    at.multiselect(key="bench.batches").set_value([1])
    at.multiselect(key="bench.concurrency").set_value([1])
    at.number_input(key="bench.requests").set_value(1)
    [run] = [b for b in at.button if b.label == "Run benchmark"]
    run.click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_instruction_names_library_files_and_embedding_errors_are_shown_literally(untrusted, app_env):
    # An unreadable library names the broken entry in the page's warning.
    library = Path(app_env["PLAYGROUND_DATA_DIR"]) / "instructions.json"
    library.parent.mkdir(parents=True, exist_ok=True)
    library.write_text(json.dumps({"instructions": [{"name": untrusted.payload, "task": ""}]}), encoding="utf-8")
    at = page("pages/1_Instructions.py")
    assert_literal(at, untrusted, "could not be read")
    # "Saved …", "already exists", "Deleted …".
    at.text_input(key="instr.w.edit_name").input(untrusted.payload)
    at.text_area(key="instr.w.edit_task").input("Find the policy")
    [save] = [b for b in at.button if b.label == "Save instruction"]
    save.click().run()
    assert_literal(at, untrusted, "Saved instruction")
    at.selectbox(key="instr.w.edit_target").set_value("(new instruction)").run()
    at.text_input(key="instr.w.edit_name").input(untrusted.payload)
    at.text_area(key="instr.w.edit_task").input("Another task")
    [save] = [b for b in at.button if b.label == "Save instruction"]
    save.click().run()
    assert_literal(at, untrusted, "already exists")
    at.selectbox(key="instr.w.edit_target").set_value(untrusted.payload).run()
    at.button(key="instr.delete").click().run()
    assert_literal(at, untrusted, "Deleted")
    # An embedding request the server refuses: its body in the page's error (widgets.show_error).
    untrusted.fail_requests = True
    at.button(key="instr.run").click().run()
    assert_literal(at, untrusted, "Server said")


def test_uploaded_file_names_and_csv_headers_are_shown_literally(untrusted):
    name = untrusted.payload
    at = page("pages/2_Chunking.py")
    at.radio(key="chunk.w.source").set_value("Upload").run()
    at.file_uploader(key="chunk.w.upload").upload(f"{name}.txt", b"Visitors sign in at reception.", "text/plain").run()
    assert_literal(at, untrusted, "Showing")
    at.file_uploader(key="chunk.w.upload").set_value((f"{name}.pdf", b"not a pdf at all", "application/pdf")).run()
    assert at.error
    assert_literal(at, untrusted, "pdf")

    at = page("pages/3_Clusters.py")
    at.radio(key="umap.w.source").set_value("Upload CSV / JSONL").run()
    numbers = f'"{name}",n\n1,2\n3,4\n'.encode()
    at.file_uploader(key="umap.upload").upload(f"{name}.csv", numbers, "text/csv").run()
    assert_literal(at, untrusted, "has no column of text")  # the file name and the header
    rows = "".join(f"Visitors sign in at reception {i},{i}\n" for i in range(6))
    table = f'text,"{name}"\n{rows}'.encode()
    at.file_uploader(key="umap.upload").set_value((f"{name}.csv", table, "text/csv")).run()
    at.selectbox(key="umap.w.text_col").set_value(name).run()
    assert_literal(at, untrusted, "holds numbers or dates")
    at.file_uploader(key="umap.upload").set_value((f"{name}.csv", b"\x00\x01\x02binary", "text/csv")).run()
    assert at.error
    assert_literal(at, untrusted, "csv")


def test_search_names_sources_metadata_and_reranker_errors_are_shown_literally(untrusted, monkeypatch):
    name = untrusted.payload
    monkeypatch.setenv("RERANK_BASE_URL", untrusted.url + "/v1")
    at = page("pages/4_Search.py")
    at.text_input(key="search.w.new_name").input(name)
    at.button(key="search.w.create").click().run()
    assert_literal(at, untrusted, "cannot be used")  # the store's refusal quotes the name
    # Created while the model name is the payload: the notice and the Manage panel name it.
    apply_settings(at, model=name)
    at.text_input(key="search.w.new_name").input("untrusted_v1")
    at.text_input(key="search.w.new_description").input(name)
    at.button(key="search.w.create").click().run()
    assert_literal(at, untrusted, "Created")
    # An export whose metadata field is the payload is refused with the field named.
    export = json.dumps({"id": "r1", "text": "Visitors sign in.", "metadata": {name: ["a list"]}}) + "\n"
    at.radio(key="search.w.ingest_source").set_value("Upload files").run()
    at.file_uploader(key="search.w.upload").upload(f"{name}.jsonl", export.encode(), "application/json")
    at.button(key="search.w.ingest").click().run()
    assert_literal(at, untrusted, "metadata values must be")
    # A document named by the payload, searched with the reranker on: its source in "Why it
    # matched", the reranker's error body.
    at.radio(key="search.w.ingest_source").set_value("Paste text").run()
    at.text_input(key="search.w.paste_name").input(name)
    at.text_area(key="search.w.paste_text").input("Visitors sign in at the front desk.\n\nLaptops are encrypted.")
    at.button(key="search.w.ingest").click().run()
    assert not at.error, [e.value for e in at.error]
    at.session_state["search.tabs"] = "Search"
    at.run()
    at.text_input(key="search.w.query").input("laptop encryption")
    at.toggle(key="search.w.rerank").set_value(True)
    at.button(key="search.w.submit").click().run()
    assert_literal(at, untrusted, "The reranker refused", "tokens.")  # "Characters … of <source>, n tokens."
    at.session_state["search.tabs"] = "Manage"
    at.run()
    assert_literal(at, untrusted, "Model ")
    # Back to another model: the guard's refusal names the model the collection was built with.
    at.session_state["search.tabs"] = "Search"
    apply_settings(at, model="fake")
    assert_literal(at, untrusted, "was built with")


def test_evaluate_uploads_and_settings_problems_are_shown_literally(untrusted):
    name = untrusted.payload
    at = page("pages/5_Evaluate.py")
    at.radio(key="eval.w.source").set_value("Upload my own").run()
    corpus = "".join(json.dumps({"id": name, "text": t}) + "\n" for t in ("first text", "second text"))
    queries = json.dumps({"id": "q1", "text": "a question", "relevant": [name]}) + "\n"
    at.file_uploader(key="eval.corpus_file").upload("corpus.jsonl", corpus.encode(), "application/json")
    at.file_uploader(key="eval.queries_file").upload("queries.jsonl", queries.encode(), "application/json")
    at.run()
    assert_literal(at, untrusted, "duplicate document id")
    # A session value the settings refuse is quoted in the sidebar's error.
    at.session_state["conn.overrides"] = {"embedding_dimensions": name}
    at.run()
    assert_literal(at, untrusted, "Configuration:")
