"""What the logic package raises or returns for users is in the Chinese catalog and reads in
Chinese with its parameters, while str() stays English (logs, command-line tools)."""

from __future__ import annotations

import errno
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from components import i18n
from embedlab import backends, ingest, instructions, rerank, textio
from embedlab.chunking import chunk_text
from embedlab.config import read_settings
from embedlab.diskerrors import write_failure
from embedlab.evaluation.datasets import load_labelled_set
from embedlab.judgments import validate_rater
from embedlab.local_model import LocalEmbedder
from embedlab.messages import LocalizedError, Message
from embedlab.stores.base import CollectionSpec, validate_name

PO = Path(__file__).resolve().parents[2] / "locales" / "zh" / "LC_MESSAGES" / "messages.po"


@pytest.fixture(scope="module")
def catalog() -> set[str]:
    with PO.open("rb") as fh:
        return {m.id for m in read_po(fh) if m.id}


def _zh(message: Message) -> str:
    return message.translate(i18n.translations("zh").gettext)


def _msgids(message: Message) -> list[str]:
    """The message's msgid and those of the messages among its parameters; glue with no words of
    its own ("{reason}", "{p0}; {p1}": text quoted as it is, problems listed) needs no entry."""
    nested = [m for value in message.params.values() if isinstance(value, Message) for m in _msgids(value)]
    own = [message.msgid] if re.sub(r"\{[^{}]*\}|[;,\s]", "", message.msgid) else []
    return [*own, *nested]


def _raised(action: Callable[[], object]) -> LocalizedError:
    with pytest.raises(LocalizedError) as info:
        action()
    return info.value


def _throw(exc: BaseException) -> None:
    raise exc


def _pdf(pages: int) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _deep_json(depth: int) -> bytes:
    return ('{"text": ' + "[" * depth + "1" + "]" * depth + "}\n").encode()


# (what raises, a fragment of the English text, fragments the Chinese must hold, parameters included)
ERRORS = {
    "server down": (
        lambda: backends.post_embeddings(backends.openai_client("http://127.0.0.1:9/v1", "", 2.0), "http://127.0.0.1:9/v1",
                                         "m", ["x"], None, 2.0),
        "Cannot reach the embedding server at http://127.0.0.1:9/v1",
        ["无法连接", "http://127.0.0.1:9/v1", "嵌入服务器"],
    ),
    "HTTP 503": (
        lambda: _throw(backends.status_error(503, "overloaded", "http://h/v1", "m")),
        "answered HTTP 503: overloaded", ["返回 HTTP 503：overloaded"],
    ),
    "API key refused": (
        lambda: _throw(backends.status_error(401, "no", "http://h/v1", "m")),
        "refused the API key (HTTP 401)", ["拒绝了 API 密钥（HTTP 401）", "EMBEDDING_API_KEY"],
    ),
    "empty texts": (lambda: backends.check_texts(["a", " ", ""]), "2 text(s) are empty", ["有 2 条文本为空", "#2, #3"]),
    "wrong dimensions": (
        lambda: LocalEmbedder("/tmp", dimensions=5000), "between 1 and 1024, got 5000", ["1 到 1024", "5000"],
    ),
    "offline model": (
        lambda: LocalEmbedder("/tmp", local_path="/no/such/dir").load(),
        "EMBEDDING_LOCAL_PATH=/no/such/dir is not a directory", ["/no/such/dir 不是目录"],
    ),
    "collection name": (
        lambda: validate_name("a b"), "Collection name 'a b' cannot be used",
        ["集合名称 'a b' 不可用", "包含 ' '", "可以试试 'a_b'"],
    ),
    "binary upload": (
        lambda: textio.extract_text(b"\x89PNG\r\n\x1a\n" + bytes(64), "x.txt"), "This looks like a PNG image",
        ["这看起来是 PNG 图片，不是文本"],
    ),
    "encoding": (lambda: textio.decode_bytes(b"abc\x00def"), "NUL bytes", ["NUL 字节"]),
    "CSV line": (
        lambda: textio.load_table(b"a,b\n1,2\n3,4,5\n", "t.csv"), "Line 3 has 3 fields but the header has 2",
        ["第 3 行有 3 个字段，但表头只有 2 个", "逗号"],
    ),
    "PDF without text": (lambda: textio.extract_text(_pdf(2), "x.pdf"), "has 2 page(s) but no text layer", ["有 2 页"]),
    "PDF page limit": (
        lambda: textio.extract_pdf_text(_pdf(3), max_pages=2), "The PDF has 3 pages; at most 2",
        ["该 PDF 有 3 页；每个文件最多读取 2 页"],
    ),
    "JSON depth": (
        lambda: textio.load_jsonl(_deep_json(textio.MAX_JSON_DEPTH + 5)), "Line 1 nests lists or objects more than 64",
        ["第 1 行的列表或对象嵌套超过 64 层"],
    ),
    "ingested file": (
        lambda: ingest.documents_from_file(b"", "notes.txt"), "notes.txt: The file is empty.", ["notes.txt：文件为空。"],
    ),
    "library import": (
        lambda: instructions.parse_entries(b"[1]"), "Entry 1: expected an object", ["第 1 条：应为含 'name' 和 'task' 的对象"],
    ),
    "chunk size": (lambda: chunk_text("text", max_tokens=2), "Chunk size must be at least 8 tokens (got 2)",
                   ["分块大小至少为 8 个词元（当前为 2）"]),
    "labelled set": (
        lambda: load_labelled_set(b'{"id": "d1", "text": "x"}\n', b'{"id": "q1", "text": "q", "relevant": ["zz"]}\n'),
        "Queries line 1 (id 'q1'): unknown document id(s) 'zz'", ["查询第 1 行（id 'q1'）：未知的文档 id 'zz'"],
    ),
    "rater": (lambda: validate_rater("LLM judge 2"), "Names starting with 'LLM judge'", ["保留给 LLM 评审"]),
    "reranker answer": (lambda: rerank.parse_response(b"oops", 2), "did not answer with JSON", ["没有返回 JSON"]),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_read_in_chinese_with_their_parameters_and_stay_english_for_logs(case, catalog):
    action, english, chinese = ERRORS[case]
    exc = _raised(action)
    assert english in str(exc)
    assert [m for m in _msgids(exc.message) if m not in catalog] == []
    shown = _zh(exc.message)
    for fragment in chinese:
        assert fragment in shown, shown
    assert english not in shown


def test_messages_returned_for_users_are_translated_too(catalog):
    """Not raised but returned: settings problems, disk reasons, collection mismatch, template problems."""
    _settings, [problem] = read_settings(env={"EMBEDDING_DIMENSIONS": "many"}, secrets={})
    full = write_failure(OSError(errno.ENOSPC, "No space left on device"))
    mismatch = CollectionSpec("hr", "model-a", 8).mismatch("model-b@http://h/v1", 8)
    [template] = instructions.template_problems("Query: {query} {query}")
    shown = {
        "settings": (problem, "EMBEDDING_DIMENSIONS must be a whole number, got 'many'",
                     "EMBEDDING_DIMENSIONS 必须是整数，收到的是 'many'；改用模型的完整维度。"),
        "disk": (full, "the disk is full", "磁盘已满"),
        "mismatch": (mismatch, "was built with 'model-a'", "集合 'hr' 是用 'model-a'（8 维）建立的，但当前模型是 'model-b'"),
        "template": (template, "exactly once, not 2 times", "模板必须恰好包含一次 {query}，而不是 2 次。"),
    }
    for name, (message, english, chinese) in shown.items():
        assert isinstance(message, Message), name
        assert english in str(message), name
        assert [m for m in _msgids(message) if m not in catalog] == [], name
        assert chinese in _zh(message), (name, _zh(message))


def test_an_error_keeps_its_english_text_when_it_crosses_a_process():
    """Pickling (multiprocessing, caches) keeps the English text even without the parameters."""
    import pickle

    exc = _raised(lambda: textio.decode_bytes(b""))
    again = pickle.loads(pickle.dumps(exc))
    assert str(again) == str(exc) == "The file is empty."
    assert json.dumps(str(again))
