"""`python -m embedlab.evaluate` as a script or CI would run it, against the stand-in server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from embedlab.backends import OpenAICompatibleEmbedder
from embedlab.cache import CachedEmbedder, EmbeddingCache
from embedlab.evaluation.datasets import bundled_files, load_bundled, load_labelled_set
from embedlab.evaluation.grid import EvalConfig, plan_grid, run_grid
from embedlab.evaluation.metrics import METRICS

ROOT = Path(__file__).resolve().parents[2]
SET = "Engineering handbook (English / mixed)"
MODEL = "multilingual-e5-small-q4"
TASK = "Given an engineer's question, retrieve the handbook passage that answers it"


def cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBEDDING_")}
    env["PLAYGROUND_DATA_DIR"] = str(data_dir)
    return subprocess.run([sys.executable, "-m", "embedlab.evaluate", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=240)


def test_json_output_matches_the_library_on_a_bundled_set(embedding_server, tmp_path):
    corpus, queries = bundled_files(SET)
    run = cli("--corpus", str(corpus), "--queries", str(queries), "--instruction", TASK, "--dimensions", "128",
              "--max-tokens", "512", "--base-url", embedding_server, "--model", MODEL, "--format", "json",
              data_dir=tmp_path)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert {"recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10", "per_query"} <= set(out)
    assert out["served_model"] == MODEL  # the model the server said answered
    data = load_bundled(SET)
    assert set(out["per_query"]) == {q.id for q in data.queries}
    assert out["config"]["dimensions"] == 128 and out["config"]["instruction"] == TASK
    for metric in METRICS:
        assert 0.0 <= out[metric] <= 1.0
        mean = sum(v[metric] for v in out["per_query"].values()) / len(out["per_query"])
        assert out[metric] == pytest.approx(mean)
    # The same configuration computed in-process, from the cache the CLI filled (no new request).
    inner = OpenAICompatibleEmbedder(embedding_server, MODEL)
    embedder = CachedEmbedder(inner, EmbeddingCache(tmp_path / "embeddings.sqlite"))
    [mine] = run_grid(data, [EvalConfig(TASK, "custom", 512, 128)], embedder)
    assert inner.requests_sent == 0
    assert mine.metrics == pytest.approx({m: out[m] for m in METRICS})
    assert out["ndcg@10"] > 0.5  # a real model on a real set, not noise


def test_table_output_with_chunked_documents(embedding_server, tmp_path):
    corpus, queries = tmp_path / "c.jsonl", tmp_path / "q.jsonl"
    corpus.write_text("\n".join(json.dumps({"id": f"d{i}", "text": t}) for i, t in enumerate([
        "Backups run nightly. " * 30 + "Restores are tested every quarter by the operations team.",
        "Visitors sign in at reception and wear a badge.",
        "Passwords have at least twelve characters.",
    ])), encoding="utf-8")
    queries.write_text("\n".join(json.dumps(q) for q in [
        {"id": "q1", "text": "how often are restores tested", "relevant": ["d0"]},
        {"id": "q2", "text": "minimum password length", "relevant": {"d2": 2}},
    ]), encoding="utf-8")
    run = cli("--corpus", str(corpus), "--queries", str(queries), "--chunked", "--chunk-tokens", "64",
              "--base-url", embedding_server, "--model", MODEL, "--format", "table", data_dir=tmp_path)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "set: c (3 documents, 2 queries)" and "chunks 64" in lines[1]
    means = {parts[0]: float(parts[1]) for parts in (line.split() for line in lines[4:9])}
    assert set(means) == set(METRICS) and all(0 <= v <= 1 for v in means.values())
    assert [line.split()[0] for line in lines[11:]] == ["q1", "q2"]
    # The long document was embedded as several chunks of at most 64 tokens.
    plan = plan_grid(load_labelled_set(corpus.read_bytes(), queries.read_bytes()),
                        [EvalConfig(chunked=True, chunk_tokens=64)])
    assert len(EmbeddingCache(tmp_path / "embeddings.sqlite")) == len(plan.texts) > 3 + 2


def test_bad_input_and_dead_server_fail_with_clear_messages(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "d1", "text": "alpha"}\n', encoding="utf-8")
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"id": "q1", "text": "a", "relevant": ["d9"]}\n', encoding="utf-8")
    run = cli("--corpus", str(corpus), "--queries", str(queries), "--format", "json", data_dir=tmp_path)
    assert run.returncode == 2
    assert "unknown document id(s) 'd9'" in run.stderr and run.stdout == ""

    queries.write_text('{"id": "q1", "text": "a", "relevant": ["d1"]}\n', encoding="utf-8")
    dead = "http://127.0.0.1:9/v1"  # discard port: nothing listens
    run = cli("--corpus", str(corpus), "--queries", str(queries), "--base-url", dead, "--model", MODEL,
              "--format", "json", data_dir=tmp_path)
    assert run.returncode == 3 and "Cannot reach the embedding server" in run.stderr

    run = cli("--corpus", str(corpus), "--format", "json", data_dir=tmp_path)
    assert run.returncode == 2 and "--corpus and --queries are both required" in run.stderr


def test_bundled_sets_have_short_names():
    from embedlab.evaluation import cli as evaluation_cli

    args = evaluation_cli._parser().parse_args(["--bundled", "it_policy_zh"])
    assert args.bundled == "IT security policy (Chinese)"
    with pytest.raises(SystemExit):
        evaluation_cli._parser().parse_args(["--bundled", "nope"])


def test_bm25_mode_needs_no_server_and_reports_no_vectors(tmp_path):
    dead = "http://127.0.0.1:9/v1"  # nothing listens: BM25 must not send anything
    run = cli("--bundled", "it_policy_zh", "--mode", "bm25", "--base-url", dead, "--model", MODEL,
              "--format", "json", data_dir=tmp_path)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["config"]["mode"] == "bm25" and out["bytes_per_vector"] is None and out["store_1m_vectors_gb"] is None
    assert out["model"] == "" and out["served_model"] is None  # no model was asked, not even for its name
    assert out["ndcg@10"] > 0.4  # jieba-segmented BM25 finds the Chinese policies
    data = load_bundled("IT security policy (Chinese)")
    [mine] = run_grid(data, [EvalConfig(mode="bm25")], embedder=None)
    assert mine.metrics == pytest.approx({m: out[m] for m in METRICS})
    assert set(out["first_relevant_rank"]) == {q.id for q in data.queries}
    table = cli("--bundled", "it_policy_zh", "--mode", "bm25", "--format", "table", data_dir=tmp_path)
    assert table.returncode == 0 and "BM25 · full text · vectors: none (BM25)" in table.stdout.splitlines()[1]


def test_hybrid_mode_with_int8_rescoring_matches_the_library(embedding_server, tmp_path):
    run = cli("--bundled", "eng_handbook_mixed", "--mode", "hybrid-rrf", "--precision", "int8", "--rescore",
              "--base-url", embedding_server, "--model", MODEL, "--format", "json", data_dir=tmp_path)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert (out["config"]["mode"], out["config"]["precision"], out["config"]["rescore"]) == ("hybrid-rrf", "int8", True)
    assert out["bytes_per_vector"] == 384 and out["store_1m_vectors_gb"] == pytest.approx(0.384)
    inner = OpenAICompatibleEmbedder(embedding_server, MODEL)
    embedder = CachedEmbedder(inner, EmbeddingCache(tmp_path / "embeddings.sqlite"))
    cfg = EvalConfig(instruction_name="none", mode="hybrid-rrf", precision="int8", rescore=True)
    [mine] = run_grid(load_bundled(SET), [cfg], embedder)
    assert inner.requests_sent == 0 and mine.metrics == pytest.approx({m: out[m] for m in METRICS})


def test_mode_and_precision_arguments_are_checked(tmp_path):
    run = cli("--bundled", "it_policy_zh", "--rescore", data_dir=tmp_path)
    assert run.returncode == 2 and "--rescore applies to --precision int8 or binary" in run.stderr
    run = cli("--bundled", "it_policy_zh", "--mode", "bm25", "--precision", "binary", data_dir=tmp_path)
    assert run.returncode == 2 and "--mode bm25 uses no vectors" in run.stderr
    run = cli("--bundled", "it_policy_zh", "--mode", "sparse", data_dir=tmp_path)
    assert run.returncode == 2 and "invalid choice: 'sparse'" in run.stderr
