"""The Chunking page under AppTest, against the stand-in embedding server: document sources,
tokens, chunk settings and the step slider, kept values, matching, and unusual pasted strings."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from components import i18n
from embedlab import chunking, chunkview, tokens
from tests.support.apptest import CHUNKING, HOME, ROOT, open_page
from tests.support.pdfs import deflated, pdf, pdf_with_text
from tests.support.untranslated import untranslated


def html_bodies(at: AppTest) -> list[str]:
    return [el.proto.body for el in at.get("html")]


def run_page(timeout: float = 120) -> AppTest:
    at = open_page(CHUNKING, timeout)
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_sample_is_tokenized_and_chunked(app_env):
    at = run_page()
    text = chunking.load_sample_document(next(iter(chunking.SAMPLES)))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Tokens (Qwen3 tokenizer)"] == f"{tokens.count_tokens(text):,}"
    assert metrics["Characters"] == f"{len(text):,}"
    assert metrics["Server's count"] == "—"  # the stand-in server has no tokenize endpoint
    # The English sample passes 2,048 tokens: the mark is announced and drawn.
    assert any("token **2,048** starts at character" in m.value for m in at.markdown)
    assert any("▼ 2,048 tokens" in body for body in html_bodies(at))
    table = at.dataframe[0].value
    expected = chunking.chunk_text(text, "recursive", 256, 0)
    assert list(table["tokens"]) == [c.tokens for c in expected]
    assert table["tokens"].max() <= 256


def test_changing_strategy_size_and_step_updates_the_chunks(app_env):
    at = run_page()
    at.selectbox(key="chunk.w.strategy").set_value("tokens")
    at.select_slider(key="chunk.w.size").set_value(128).run()  # the overlap slider's range follows
    at.slider(key="chunk.w.overlap").set_value(32).run()
    assert not at.exception
    text = chunking.load_sample_document(next(iter(chunking.SAMPLES)))
    expected = chunking.chunk_text(text, "tokens", 128, 32)
    table = at.dataframe[0].value
    assert len(table) == len(expected) and list(table["start"]) == [c.start for c in expected]
    assert any(f"of {len(expected)}" in m.value and "Chunk 1" in m.value for m in at.markdown)
    at.slider(key="chunk.w.step").set_value(3).run()
    assert any("**Chunk 3 of" in m.value for m in at.markdown)
    # Overlaps are striped: shared spans carry both chunk ids.
    assert any('data-chunks="1 2"' in body for body in html_bodies(at))
    # The values are kept under their declared widget keys, for page switches.
    assert at.session_state["chunk.w.strategy"] == "tokens" and at.session_state["chunk.w.step"] == 3


def test_chinese_sample_and_markdown_sections(app_env):
    at = run_page()
    title = list(chunking.SAMPLES)[1]
    at.selectbox(key="chunk.w.sample").set_value(title)
    at.selectbox(key="chunk.w.strategy").set_value("markdown")
    at.run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table["first words"].iloc[1].startswith("## 第一章 总则")


def test_pasted_markup_is_escaped(app_env):
    at = run_page()
    at.radio(key="chunk.w.source").set_value("Paste").run()
    assert any("Choose a sample" in i.value for i in at.info)
    payload = 'Policy <script>alert("x")</script> and <img src=x onerror="alert(1)"> end. ' * 30
    at.text_area(key="chunk.w.pasted").input(payload).run()
    assert not at.exception
    bodies = "".join(html_bodies(at))
    assert "<script>" not in bodies and "<img" not in bodies
    assert "&lt;script&gt;" in bodies and "&lt;img src=x onerror=" in bodies


def test_matching_finds_the_answering_chunk_and_compares_pooling(app_env):
    at = run_page()
    # Small inputs keep the stand-in model quick (it is quadratic in input length).
    at.select_slider(key="chunk.w.size").set_value(128).run()
    at.selectbox(key="chunk.w.doc_limit").set_value(512)
    at.text_input(key="chunk.w.query").input("penetration test approval and external testers")
    at.button(key="chunk.w.match").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    best = [m.value for m in at.markdown if m.value.startswith("**Best chunk:")]
    assert best, "no best chunk shown"
    result = at.session_state["chunk.match"]
    assert len(result.sims) == len(at.dataframe[0].value)
    assert set(result.scores) == {"document", "mean", "weighted", "best"}
    assert result.scores["best"] == max(result.sims)
    assert result.whole_tokens == 512
    # The best chunk is the penetration-test section of the sample.
    text = chunking.load_sample_document(next(iter(chunking.SAMPLES)))
    chunks = chunking.chunk_text(text, "recursive", 128, 0)
    best_text = text[chunks[result.best].start : chunks[result.best].end]
    assert "penetration" in best_text.lower() or "testers" in best_text.lower()
    pooling = at.dataframe[1].value
    assert list(pooling["method"]) == ["Whole document (first 512 tokens)", "Mean of chunk vectors",
                                       "Length-weighted mean", "Best chunk (max-sim)"]
    assert pooling["similarity"].iloc[3] == round(result.scores["best"], 4)
    # Changing the query marks the result as stale instead of showing old numbers.
    at.text_input(key="chunk.w.query").input("annual leave").run()
    assert any("changed since the last match" in i.value for i in at.info)


def test_empty_query_gets_a_clear_message(app_env):
    at = run_page()
    at.button(key="chunk.w.match").click().run()
    assert any("Enter a query" in e.value for e in at.error)


def test_inputs_start_from_their_declared_defaults(app_env):
    at = run_page()
    assert at.radio(key="chunk.w.source").value == "Sample"
    assert at.selectbox(key="chunk.w.sample").value == next(iter(chunking.SAMPLES))
    assert at.selectbox(key="chunk.w.strategy").value == "recursive"
    assert at.select_slider(key="chunk.w.size").value == 256
    assert at.slider(key="chunk.w.overlap").value == 0
    assert at.selectbox(key="chunk.w.instruction").value == "Web search (Qwen default)"
    assert at.selectbox(key="chunk.w.doc_limit").value == 2048
    assert at.text_input(key="chunk.w.query").value == ""


def test_hidden_inputs_keep_their_values_when_drawn_again(app_env):
    at = run_page()
    title = list(chunking.SAMPLES)[1]
    at.selectbox(key="chunk.w.sample").set_value(title)
    at.selectbox(key="chunk.w.strategy").set_value("markdown")
    at.select_slider(key="chunk.w.size").set_value(512).run()
    at.text_input(key="chunk.w.query").input("年假").run()
    # An empty pasted text stops the page after the document box: nothing below it is drawn.
    at.radio(key="chunk.w.source").set_value("Paste").run()
    assert {w.key for w in at.selectbox} & {"chunk.w.sample", "chunk.w.strategy"} == set()
    at.radio(key="chunk.w.source").set_value("Sample").run()
    assert not at.exception
    assert at.selectbox(key="chunk.w.sample").value == title
    assert at.selectbox(key="chunk.w.strategy").value == "markdown"
    assert at.select_slider(key="chunk.w.size").value == 512
    assert at.text_input(key="chunk.w.query").value == "年假"
    table = at.dataframe[0].value
    assert table["first words"].iloc[1].startswith("## 第一章 总则")


def test_overlap_and_step_are_clamped_when_the_chunks_change(app_env):
    at = run_page()
    at.selectbox(key="chunk.w.strategy").set_value("tokens")
    at.select_slider(key="chunk.w.size").set_value(128).run()
    at.slider(key="chunk.w.overlap").set_value(64).run()
    n_small = len(at.dataframe[0].value)
    at.slider(key="chunk.w.step").set_value(n_small).run()
    # Bigger chunks: fewer of them, so the step falls back to the last one; a smaller size halves
    # the overlap's range, and the kept overlap follows it.
    at.select_slider(key="chunk.w.size").set_value(1024).run()
    assert not at.exception, [e.value for e in at.exception]
    n_big = len(at.dataframe[0].value)
    assert n_big < n_small and at.slider(key="chunk.w.step").value == n_big
    assert at.slider(key="chunk.w.overlap").value == 64
    at.select_slider(key="chunk.w.size").set_value(32).run()
    assert not at.exception, [e.value for e in at.exception]
    overlap = at.slider(key="chunk.w.overlap")
    assert overlap.value == 16 and overlap.max == 16
    text = chunking.load_sample_document(next(iter(chunking.SAMPLES)))
    assert list(at.dataframe[0].value["start"]) == [c.start for c in chunking.chunk_text(text, "tokens", 32, 16)]


def test_values_survive_a_page_switch(app_env):
    at = open_page(HOME, 120)
    at.switch_page("pages/2_Chunking.py").run()
    assert not at.exception, [e.value for e in at.exception]
    at.selectbox(key="chunk.w.strategy").set_value("tokens")
    at.select_slider(key="chunk.w.size").set_value(128).run()
    at.slider(key="chunk.w.step").set_value(2).run()
    at.switch_page("app.py").run()
    at.switch_page("pages/2_Chunking.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="chunk.w.strategy").value == "tokens"
    assert at.select_slider(key="chunk.w.size").value == 128
    assert at.slider(key="chunk.w.step").value == 2
    assert any("**Chunk 2 of" in m.value for m in at.markdown)


# Unusual strings pasted into the page: NUL, right-to-left override, emoji and a 1 MB single line
# are chunked and shown escaped, without an exception. (A browser cannot send a lone surrogate,
# UTF-8 has none; they can only arrive as JSON escapes in uploads: see test_textio.)
@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Null \x00 byte in a policy sentence. " * 20, "byte in a policy sentence."),
        ("Right-to-left \u202eoverride\u202c inside <b>text</b>. " * 20, "inside &lt;b&gt;text&lt;/b&gt;."),
        ("Emoji 🧪🚀 与中文混排的句子。 " * 20, "Emoji 🧪🚀 与中文混排的句子。"),
        ("x" * 1_000_000, "x" * 1_000),
    ],
    ids=["nul", "rtl", "emoji", "1MB-line"],
)
def test_unusual_text_is_chunked_without_exception(app_env, text, shown):
    at = run_page(timeout=180)
    at.radio(key="chunk.w.source").set_value("Paste").run()
    at.text_area(key="chunk.w.pasted").input(text).run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    assert len(table) >= 1 and table["tokens"].max() <= 256
    bodies = "".join(html_bodies(at))
    assert "<b>" not in bodies  # markup in the text stays text...
    assert shown in bodies  # ...and is drawn, escaped, in the chunk view


def test_a_pdf_bomb_is_refused_and_the_last_good_document_kept(app_env):
    at = run_page()
    at.radio(key="chunk.w.source").set_value("Upload").run()
    at.file_uploader(key="chunk.w.upload").set_value(("policy.pdf", pdf_with_text("Badge rules for visitors"), "application/pdf"))
    at.run()
    assert not at.exception and not at.error
    bomb = pdf([deflated(b" ", 80_000_000)], flate=True)  # about 80 kB inflating to 80 MB
    at.file_uploader(key="chunk.w.upload").set_value(("bomb.pdf", bomb, "application/pdf"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    [message] = [e.value for e in at.error]
    assert "would expand past what the reader allows" in message and "decompression bomb" in message
    assert at.session_state["chunk.uploaded"]["text"] == "Badge rules for visitors"


def test_the_page_in_chinese_shows_no_untranslated_text_before_and_after_matching(app_env):
    at = AppTest.from_file(str(ROOT / CHUNKING), default_timeout=120)
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert untranslated(at) == {}
    assert at.radio(key="chunk.w.source").options == ["示例", "粘贴", "上传"]
    assert at.selectbox(key="chunk.w.strategy").options == ["固定词元窗口", "递归（段落 → 句子 → 词元）",
                                                           "Markdown 章节（过大时递归切分）"]
    at.select_slider(key="chunk.w.size").set_value(128).run()
    at.selectbox(key="chunk.w.doc_limit").set_value(512)
    at.text_input(key="chunk.w.query").input("penetration test approval and external testers")
    at.button(key="chunk.w.match").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert untranslated(at) == {}
    result = at.session_state["chunk.match"]
    text = chunking.load_sample_document(next(iter(chunking.SAMPLES)))
    # The caption beside the pooling table says what its numbers say, in Chinese.
    expected = chunkview.pooling_verdict(result.scores, tokens.count_tokens(text), result.whole_tokens)
    chinese = i18n.translations("zh").gettext
    [caption] = [c.value for c in at.caption if c.value.startswith("这里")]
    assert caption == " ".join(m.translate(chinese) for m in expected)
    best, mean = round(result.scores["best"], 4), round(result.scores["mean"], 4)
    assert ("最佳分块比分块向量的平均高" in caption) == (best > mean)
    assert ("分块向量的平均比最佳分块高" in caption) == (mean > best)
    assert list(at.dataframe[1].value.columns) == ["方式", "相似度"]
