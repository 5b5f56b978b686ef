"""Unusual strings pasted into the Chunking page: NUL, right-to-left override, emoji and a 1 MB
single line are chunked and shown escaped, without an exception. (A browser cannot send a lone
surrogate, UTF-8 has none; they can only arrive as JSON escapes in uploads: see test_textio.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "2_Chunking.py")


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
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    at.radio(key="chunk.w.source").set_value("Paste").run()
    at.text_area(key="chunk.w.pasted").input(text).run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    assert len(table) >= 1 and table["tokens"].max() <= 256
    bodies = "".join(el.proto.body for el in at.get("html"))
    assert "<b>" not in bodies  # markup in the text stays text...
    assert shown in bodies  # ...and is drawn, escaped, in the chunk view
