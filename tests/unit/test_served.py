"""The served model: recorded from the answers, judged against the configured one and the model card,
and written into the exports (Evaluate JSON, Benchmark CSV, Server check report, collection metadata)."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from embedlab import benchmark, served
from embedlab.backends import OpenAICompatibleEmbedder
from embedlab.cache import CachedEmbedder, EmbeddingCache
from embedlab.evaluation.datasets import load_bundled
from embedlab.evaluation.grid import EvalConfig, run_grid
from embedlab.evaluation.report import results_json
from embedlab.ingest import Document, chunk_documents, ingest
from embedlab.servercheck import run_checks
from embedlab.servercheck.report import outcome
from embedlab.stores.base import CollectionSpec
from tests.support import stores
from tests.support.scripted_model import MODEL, ScriptedQwenServer
from tests.support.word_embedder import WordEmbedder

STAND_IN = "multilingual-e5-small-q4"


@pytest.mark.parametrize("name", ["Qwen/Qwen3-Embedding-0.6B", "Qwen3-Embedding-0.6B", "qwen3-embedding:0.6b",
                                  "dengcao/Qwen3-Embedding-0.6B:Q8_0"])
def test_usual_spellings_of_the_reference_model_count_as_it(name):
    assert served.is_reference(name) and served.same_model(MODEL, name)


@pytest.mark.parametrize("name", ["Qwen/Qwen3-Embedding-4B", STAND_IN, "", None])
def test_other_models_are_not_the_reference(name):
    assert not served.is_reference(name)


def _identity(status: str):
    return outcome("identity", status, "verdict", max_score_difference=0.5)


@pytest.mark.parametrize(("configured", "answered", "identity", "kind"), [
    (MODEL, STAND_IN, None, "mismatch"),  # Qwen configured, e5 answers
    (MODEL, "Qwen3-Embedding-0.6B", _identity("pass"), "ok"),  # another spelling of the same model
    (MODEL, MODEL, _identity("fail"), "identity"),  # the right name, other vectors
    (MODEL, None, _identity("fail"), "identity"),  # the server does not name its model
    (MODEL, MODEL, _identity("warn"), "ok"),  # a quantised build: close enough for the figures
    (MODEL, None, None, "ok"),  # nothing known against it
    (STAND_IN, STAND_IN, None, "other"),  # another model on purpose
    (STAND_IN, "bge-m3", None, "mismatch"),
])
def test_assess(configured, answered, identity, kind):
    verdict = served.assess(configured, answered, identity)
    assert verdict.kind == kind and verdict.warns == (kind != "ok")


def test_the_identity_check_runs_only_when_it_can_tell_something():
    assert served.needs_identity(MODEL, None) and served.needs_identity(MODEL, "Qwen3-Embedding-0.6B")
    assert not served.needs_identity(MODEL, STAND_IN) and not served.needs_identity(STAND_IN, STAND_IN)


def test_identity_check_passes_for_qwen_and_fails_for_other_vectors_and_is_none_without_a_server():
    for fault, status in ((None, "pass"), ("different_model", "fail")):
        server = ScriptedQwenServer(fault)
        try:
            # A generous timeout: the page's 4 s is a policy for hung servers, and this test runs beside others.
            assert served.identity_check(server.url, MODEL, timeout_s=30.0).status == status
        finally:
            server.close()
    assert served.identity_check("http://127.0.0.1:9/v1", MODEL, timeout_s=1.0) is None


def test_the_embedder_records_the_served_model_and_the_cache_falls_back_to_the_connection_test(
        embedding_server, tmp_path):
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    first = CachedEmbedder(OpenAICompatibleEmbedder(embedding_server, MODEL), cache)
    assert first.served_model is None
    first.embed(["annual leave"])
    assert first.served_model == STAND_IN  # the answer's own name, not the configured one
    # Another embedder over the same cache: every text is a hit, so no answer names the model.
    again = CachedEmbedder(OpenAICompatibleEmbedder(embedding_server, MODEL), cache)
    again.embed(["annual leave"])
    assert again.served_model is None and cache.hits
    again.served_fallback = again.inner.probe().served
    assert again.served_model == STAND_IN
    assert served.served_model_of(CachedEmbedder(OpenAICompatibleEmbedder(embedding_server, MODEL), cache)) == STAND_IN


def test_evaluate_json_names_the_served_model(embedding_server, tmp_path):
    data = load_bundled("Engineering handbook (English / mixed)")
    embedder = CachedEmbedder(OpenAICompatibleEmbedder(embedding_server, STAND_IN), EmbeddingCache(tmp_path / "c"))
    results = run_grid(data, [EvalConfig()], embedder)
    payload = json.loads(results_json(results, data, embedder.model_id, 0, served_model=embedder.served_model))
    assert payload["served_model"] == STAND_IN and payload["model"] == embedder.model_id


def test_benchmark_csv_names_the_configured_and_the_served_model():
    server = ScriptedQwenServer()
    try:
        probe = OpenAICompatibleEmbedder(server.url, "my-qwen").probe()
        send = benchmark.openai_request_fn(server.url, "my-qwen", None, timeout_s=10)
        frame = benchmark.to_frame(list(benchmark.run_sweep(send, benchmark.sweep_points(["short"], [1], [1]), 2, 30)))
    finally:
        server.close()
    csv = served.with_models(frame, "my-qwen", probe.served).to_csv(index=False)
    table = pd.read_csv(io.StringIO(csv))
    assert list(table.columns[:2]) == ["configured_model", "served_model"]
    assert set(table["served_model"]) == {MODEL} and set(table["configured_model"]) == {"my-qwen"}
    assert len(table) == len(frame) == 1


def test_server_check_report_names_the_served_model():
    server = ScriptedQwenServer()
    try:
        report = run_checks(server.url, "my-qwen", only=["tokens"])
    finally:
        server.close()
    assert report.served_model == MODEL
    assert json.loads(report.to_json())["served_model"] == MODEL
    assert f"- Served model: `{MODEL}`" in report.to_markdown()


class NamedWordEmbedder(WordEmbedder):
    """A word embedder whose answers name a model, as a server's do."""

    served_model = "bge-m3-served"


@pytest.mark.parametrize("kind", ["chroma-embedded", "milvus-lite"])
def test_ingest_records_the_served_model_in_the_collection_metadata(kind, request, tmp_path):
    store = stores.open_store(kind, request, tmp_path)
    embedder = NamedWordEmbedder()
    store.create(CollectionSpec("hr_policy_v1", embedder.model_id, embedder.dim))
    assert store.spec("hr_policy_v1").served_model == ""
    records = chunk_documents([Document("leave.md", "Annual leave is ten days per year. " * 20)], "recursive", 64)
    report = ingest(store, "hr_policy_v1", embedder, records)
    assert report.error is None and report.added
    assert store.spec("hr_policy_v1").served_model == "bge-m3-served"
    assert store.spec("hr_policy_v1").to_metadata()["served_model"] == "bge-m3-served"
