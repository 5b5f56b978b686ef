"""Clusters uploads without usable text: a clear message, and the text column picker skips id columns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from embedlab.textio import text_columns

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "3_Clusters.py")


@pytest.fixture
def at(app_env) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    at.radio(key="umap.w.source").set_value("Upload CSV / JSONL").run()
    return at


def _upload(at: AppTest, name: str, content: str) -> AppTest:
    at.get("file_uploader")[0].upload(name, content.encode("utf-8"), "text/csv").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_csv_without_a_text_column_is_refused_with_a_clear_message(at):
    rows = "\n".join(f"{i},{i * 0.1:.1f},2024-01-{i:02d}" for i in range(1, 9))
    _upload(at, "scores.csv", "id,score,day\n" + rows + "\n")
    errors = [e.value for e in at.error]
    assert any("scores.csv has no column of text" in e and "id, score, day" in e for e in errors), errors
    assert not [b for b in at.button if b.label == "Build maps"]  # nothing to map, no form
    assert not at.get("selectbox") or "umap.w.text_col" not in [s.key for s in at.selectbox]


def test_text_column_defaults_to_text_not_to_the_first_column(at):
    rows = "\n".join(f"{i},Badge rule number {i} for visitors,security" for i in range(1, 9))
    _upload(at, "rules.csv", "id,title,topic\n" + rows + "\n")
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="umap.w.text_col").value == "title"
    assert any(c.value.startswith("8 texts") for c in at.caption)
    # Picking the id column by hand is allowed but flagged.
    at.selectbox(key="umap.w.text_col").set_value("id").run()
    assert any("“id” holds numbers or dates" in w.value for w in at.warning)


def test_text_columns_tell_text_from_numbers_dates_and_blanks():
    frame = pd.DataFrame({
        "id": ["1", "2", "3"], "when": ["2024-01-01", "2024-02-01", ""], "blank": ["", "", ""],
        "code": ["d1", "d2", "d3"], "zh": ["年假", "报销", "42"], "text": ["a b", "c", "d e f"],
    })
    assert text_columns(frame) == ["code", "zh", "text"]
