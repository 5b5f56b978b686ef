"""Chunk view HTML and captions, chunk figures, pooling maths, match results and the server tokenize count."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from embedlab import chunking, chunkview, figures, tokens
from embedlab.chunking import Chunk
from embedlab.text import first_words


def test_chunk_html_escapes_text_and_stripes_overlaps():
    text = 'Intro <script>alert("x")</script> and <img src=x onerror="alert(1)"> done.'
    chunks = [Chunk(0, 40, 0), Chunk(30, len(text), 0)]
    out = chunkview.chunk_html(text, chunks, marks={5: 20}, selected=1)
    assert "<script" not in out and "<img" not in out
    assert "&lt;script&gt;" in out and "onerror=&quot;alert(1)&quot;" in out
    assert 'data-chunks="0 1"' in out and "repeating-linear-gradient" in out  # shared text
    # Chunk 0 is drawn in two spans around the mark at character 20.
    assert out.count('data-chunks="0"') == 2 and out.count('data-chunks="1"') == 1
    assert "▼ 5 tokens" in out
    # Every character of the text appears once, in order, once tags are stripped and unescaped.
    plain = re.sub(r"<span class=\"ev-mark\"[^>]*>[^<]*</span>", "", out)
    plain = re.sub(r"<[^>]+>", "", plain)
    assert __import__("html").unescape(plain) == text


def test_chunk_html_dims_other_chunks_and_draws_a_span():
    text = "alpha beta gamma delta"
    chunks = [Chunk(0, 10, 2), Chunk(11, 22, 2)]
    out = chunkview.chunk_html(text, chunks, selected=0)
    first, second = out.split('data-chunks="1"')
    assert "underline" in first and "opacity:0.35" in second
    part = chunkview.chunk_html(text, chunks, span=(11, 22))
    assert "alpha" not in part and "gamma delta" in part


def test_chunk_html_for_hundreds_of_chunks_is_compact():
    text = chunking.load_sample_document(list(chunking.SAMPLES)[0]) * 4
    chunks = chunking.chunk_text(text, "tokens", 32, 8)
    assert len(chunks) > 300
    out = chunkview.chunk_html(text, chunks, chunking.TokenIndex(text).marks(), selected=100)
    # A few spans per chunk, not one per token: the markup stays within a small factor of the text.
    assert out.count("<span") <= 2 * len(chunks) + 3
    assert len(out) < 3 * len(text) + 300 * len(chunks)


def test_first_token_pieces_rebuild_the_start_of_the_text():
    text = "你好，世界。Hello world! 😀 done"
    index = chunking.TokenIndex(text)
    pieces = chunkview.first_token_pieces(text, index.starts, limit=400)
    assert "".join(pieces) == text
    assert len(chunkview.first_token_pieces(text, index.starts, limit=3)) == 3


def test_pooled_scores_on_known_vectors():
    q = np.array([1.0, 0.0], dtype=np.float32)
    chunks = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    doc = np.array([0.6, 0.8], dtype=np.float32)
    scores = chunking.pooled_scores(q, doc, chunks, [30, 10])
    assert scores["document"] == pytest.approx(0.6)
    assert scores["mean"] == pytest.approx(1 / np.sqrt(2), rel=1e-5)
    assert scores["weighted"] == pytest.approx(3 / np.sqrt(10), rel=1e-5)  # (3, 1) normalised
    assert scores["best"] == pytest.approx(1.0)
    sims, best = chunking.match_chunks(q, chunks)
    assert best == 0 and sims.tolist() == [1.0, 0.0]


def test_score_match_keeps_similarities_best_chunk_and_pooling():
    q = np.array([1.0, 0.0], dtype=np.float32)
    vectors = np.array([[0.0, 1.0], [0.8, 0.6], [0.6, 0.8]], dtype=np.float32)
    doc = np.array([0.6, 0.8], dtype=np.float32)
    chunks = [Chunk(0, 10, 5), Chunk(11, 20, 30), Chunk(21, 30, 5)]
    key = chunking.match_key("text", "recursive", 256, 0, "query", "task", 512)
    result = chunking.score_match(q, doc, vectors, chunks, whole_tokens=412, key=key)
    assert result.key == key and result.best == 1
    assert result.sims == pytest.approx((0.0, 0.8, 0.6))
    assert all(type(x) is float for x in result.sims)  # plain floats in session state, not numpy scalars
    assert result.scores == chunking.pooled_scores(q, doc, vectors, [5, 30, 5])
    assert result.scores["best"] == max(result.sims)
    labelled = result.labelled_scores()
    assert list(labelled) == ["Whole document (first 412 tokens)", "Mean of chunk vectors",
                              "Length-weighted mean", "Best chunk (max-sim)"]
    assert list(labelled.values()) == [result.scores[k] for k in chunking.POOLING]
    rows = result.pooling_rows()
    assert rows[0] == {"method": "Whole document (first 412 tokens)", "similarity": 0.6}
    assert [r["similarity"] for r in rows] == [round(v, 4) for v in labelled.values()]


def test_match_key_changes_with_every_input_and_stays_small():
    text = "员工手册 " * 50_000
    base = ("recursive", 256, 0, "annual leave", "task", 2048)
    key = chunking.match_key(text, *base)
    assert key == chunking.match_key(text, *base)
    assert len(repr(key)) < 200  # the document is named by its digest, not kept in the key
    assert chunking.match_key(text + ".", *base) != key
    for i, other in enumerate(["tokens", 128, 16, "sick leave", "other task", 512]):
        changed = list(base)
        changed[i] = other
        assert chunking.match_key(text, *changed) != key
    # Lone surrogates (possible in decoded JSON) do not break the digest.
    assert chunking.match_key("a\ud800b", *base) != chunking.match_key("ab", *base)


def test_chunk_texts_are_the_spans_of_the_document():
    text = "alpha beta gamma delta"
    assert chunking.chunk_texts(text, [Chunk(0, 10, 2), Chunk(6, 16, 2)]) == ["alpha beta", "beta gamma"]
    assert chunking.chunk_texts(text, []) == []


def test_marks_sentence_says_where_each_mark_falls():
    sentence = chunkview.marks_sentence(20_000, {2_048: 9_876})
    assert sentence == ("Marked in the view below (▼): token **2,048** starts at character 9,876 (49% of the text); "
                        "the text ends before token **8,192**; the text ends before token **32,768**.")
    assert "ends before token **2,048**" in chunkview.marks_sentence(0, {})


@pytest.mark.parametrize(
    ("n_tokens", "kind", "words"),
    [(100, None, ""), (2_048, None, ""), (2_049, "info", "2,048"), (8_193, "warning", "fade"),
     (32_769, "warning", "cut off or rejected")],
)
def test_length_advice_by_token_count(n_tokens, kind, words):
    advice = chunkview.length_advice(n_tokens)
    if kind is None:
        assert advice is None
    else:
        assert advice[0] == kind and words in str(advice[1])


def test_samples_are_read_once():
    title = next(iter(chunking.SAMPLES))
    assert chunking.load_sample_document(title) is chunking.load_sample_document(title)


def test_chunk_figures_escape_hover_text():
    fig = figures.chunk_similarity_bars([0.2, 0.9, 0.5], ["a", "<b>bold</b>", "c"], best=1)
    assert fig.data[0].marker.color[1] == "#d62728"
    assert "&lt;b&gt;" in fig.data[0].customdata[1]
    hist = figures.chunk_size_histogram([10, 20, 30], 32)
    assert list(hist.data[0].x) == [10, 20, 30]
    pool = figures.pooling_comparison_bars({"Whole": 0.5, "Best <i>x</i>": 0.7})
    assert list(pool.data[0].x) == [0.5, 0.7] and "&lt;i&gt;" in pool.data[0].y[1]


def test_chunk_rows_and_samples():
    for title in chunking.SAMPLES:
        text = chunking.load_sample_document(title)
        assert tokens.count_tokens(text) > 2048  # both samples pass the first mark
        assert text.startswith("# ")
    rows = chunking.chunk_rows("one two three four", [Chunk(0, 7, 2), Chunk(8, 18, 2)])
    assert rows[1] == {"chunk": 2, "start": 8, "end": 18, "tokens": 2, "characters": 10, "first words": "three four"}
    assert first_words("word " * 40, 20).endswith("…")


class _TokenizeHandler(BaseHTTPRequestHandler):
    path_ok = "/tokenize"
    seen: list[tuple[str, dict]] = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append((self.path, body))
        if self.path != self.path_ok:
            self.send_response(404)
            self.end_headers()
            return
        ids = tokens.encode(body["prompt"])
        out = json.dumps({"tokens": ids, "count": len(ids), "max_model_len": 32768}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


@pytest.fixture(params=["/tokenize", "/v1/tokenize"], ids=["vllm", "sglang"])
def tokenize_server(request):
    handler = type("Handler", (_TokenizeHandler,), {"path_ok": request.param, "seen": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", handler
    httpd.shutdown()
    httpd.server_close()


def test_server_token_count_uses_whichever_endpoint_exists(tokenize_server):
    url, handler = tokenize_server
    text = "员工出差前应提交申请。Travel needs approval."
    assert tokens.server_token_count(url, "Qwen/Qwen3-Embedding-0.6B", text) == tokens.count_tokens(text)
    path, body = handler.seen[-1]
    assert path == handler.path_ok
    assert body == {"model": "Qwen/Qwen3-Embedding-0.6B", "prompt": text, "add_special_tokens": False}


def test_server_token_count_is_none_without_endpoint(embedding_server):
    assert tokens.server_token_count(embedding_server, "multilingual-e5-small-q4", "hello") is None


def test_server_token_count_is_none_when_nothing_listens():
    from tests.support.procs import free_port

    assert tokens.server_token_count(f"http://127.0.0.1:{free_port()}/v1", "m", "hello", timeout_s=1) is None


# --- the sentences beside the pooling table follow its numbers -----------------------------------


def _pooling(document: float, mean: float, weighted: float, best: float, doc_tokens: int = 3_000,
             whole_tokens: int = 2_048) -> list[str]:
    scores = {"document": document, "mean": mean, "weighted": weighted, "best": best}
    return [str(m) for m in chunkview.pooling_verdict(scores, doc_tokens, whole_tokens)]


def test_pooling_verdict_when_the_best_chunk_wins():
    top, versus, cut = _pooling(0.71, 0.75, 0.76, 0.82)
    assert top == "Here “Best chunk (max-sim)” scores highest (0.8200) and “Whole document (first 2,048 tokens)” lowest (0.7100)."
    assert versus.startswith("The best chunk scores 0.0700 higher than the mean of the chunk vectors: averaging dilutes")
    assert cut == "The whole-document input is cut at 2,048 tokens: it never sees the last 952 tokens of the text."


def test_pooling_verdict_when_the_mean_wins_as_on_the_issue_report():
    top, versus, whole = _pooling(0.80, 0.8441, 0.8402, 0.8276, doc_tokens=1_500, whole_tokens=1_500)
    assert top.startswith("Here “Mean of chunk vectors” scores highest (0.8441)")
    assert versus.startswith("The mean of the chunk vectors scores 0.0165 higher than the best chunk")
    assert "dilute" not in " ".join([top, versus, whole])
    assert whole == "The whole document (1,500 tokens) fits in one input: nothing is cut."


def test_pooling_verdict_compares_the_numbers_as_shown():
    # One chunk: best and mean are the same vector; a difference below the shown precision is no difference.
    top, versus, _ = _pooling(0.9, 0.90001, 0.9, 0.9, doc_tokens=100, whole_tokens=100)
    assert top == "All four ways score the same here (0.9000)."
    assert versus == "The best chunk and the mean of the chunk vectors score the same (0.9000)."


def test_pooling_verdict_translates_its_labels():
    zh = {"Here “{top}” scores highest ({top_score:.4f}) and “{bottom}” lowest ({bottom_score:.4f}).":
          "这里“{top}”最高（{top_score:.4f}），“{bottom}”最低（{bottom_score:.4f}）。",
          "Best chunk (max-sim)": "最佳分块", "Whole document (first {n:,} tokens)": "整篇文档（前 {n:,} 个词元）"}
    [top, *_] = chunkview.pooling_verdict({"document": 0.7, "mean": 0.75, "weighted": 0.76, "best": 0.8}, 3_000, 2_048)
    assert top.translate(lambda s: zh.get(s, s)) == "这里“最佳分块”最高（0.8000），“整篇文档（前 2,048 个词元）”最低（0.7000）。"
