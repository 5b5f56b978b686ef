"""Errors from the logic package are shown in the session's language: a refused upload and an
embedding server that is down, in Chinese with ?lang=zh (and in English without)."""

from __future__ import annotations

import socket

import pytest
from streamlit.testing.v1 import AppTest

from tests.support.apptest import CHUNKING, ROOT
from tests.support.markdown import shown

PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)


def _page(script: str, lang: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / script), default_timeout=120)
    at.query_params["lang"] = lang
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize(("lang", "expected"), [
    ("zh", "photo.txt: 这看起来是 PNG 图片，不是文本。请上传 .txt、.md、.pdf、.csv 或 .jsonl 文件。"),
    ("en", "photo.txt: This looks like a PNG image, not text. Upload a .txt, .md, .pdf, .csv or .jsonl file."),
])
def test_a_binary_upload_is_refused_in_the_sessions_language(app_env, lang, expected):
    at = _page(CHUNKING, lang)
    at.radio(key="chunk.w.source").set_value("Upload").run()
    at.file_uploader(key="chunk.w.upload").set_value(("photo.txt", PNG, "text/plain"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [shown(e.value) for e in at.error] == [expected]


@pytest.fixture
def server_down(monkeypatch, tmp_path) -> str:
    """The app pointed at a port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    monkeypatch.setenv("EMBEDDING_BASE_URL", url)
    monkeypatch.setenv("EMBEDDING_MODEL", "multilingual-e5-small-q4")
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path / "data"))
    for key in ("EMBEDDING_API_KEY", "EMBEDDING_DIMENSIONS", "CHROMA_HOST", "RERANK_BASE_URL", "MILVUS_URI",
                "MILVUS_TOKEN", "PLAYGROUND_LOCK_CONNECTION"):
        monkeypatch.delenv(key, raising=False)
    return url


def test_a_server_that_is_down_is_reported_in_chinese(server_down):
    at = _page(CHUNKING, "zh")
    errors = [shown(e.value) for e in at.sidebar.error]
    assert len(errors) == 1, errors
    [error] = errors
    assert error.startswith(f"无法连接 {server_down} 处的嵌入服务器（"), error
    assert "服务器是否在运行？URL 是否正确" in error and "sglang serve --model-path Qwen/Qwen3-Embedding-0.6B" in error
    assert "Cannot reach" not in error

    english = _page(CHUNKING, "en")
    [error] = [shown(e.value) for e in english.sidebar.error]
    assert error.startswith(f"Cannot reach the embedding server at {server_down} (")
