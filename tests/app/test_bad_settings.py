"""Every page with an unusable setting or a data directory that cannot be written: one clear
message, never a traceback; and what a full disk does to the Instruction Lab."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from embedlab.cache import EmbeddingCache
from tests.support.apptest import HOME, open_page
from tests.support.diskfaults import cap_sqlite_growth, full_disk_for_temp_files, read_only

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ["app.py", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))]
LAB = str(ROOT / "pages" / "1_Instructions.py")

# Setting -> (extra environment, the one warning every page shows).
BAD_DIMENSIONS = {
    "-1": ({"EMBEDDING_DIMENSIONS": "-1"},
           "Configuration: EMBEDDING_DIMENSIONS must be positive, got -1; the model's full size is used."),
    "abc": ({"EMBEDDING_DIMENSIONS": "abc"},
            "Configuration: EMBEDDING_DIMENSIONS must be a whole number, got 'abc'; the model's full size is used."),
    # A known model: its own range (0.6B: 32 to 1024) decides, before anything is sent.
    "5000-qwen": ({"EMBEDDING_DIMENSIONS": "5000", "EMBEDDING_MODEL": "Qwen/Qwen3-Embedding-0.6B"},
                  "Configuration: EMBEDDING_DIMENSIONS=5000 is outside the sizes Qwen/Qwen3-Embedding-0.6B offers "
                  "(32 to 1024); the model's full size is used."),
    # A model the app does not know: the server's answer (384) is the bound.
    "5000-unknown": ({"EMBEDDING_DIMENSIONS": "5000"},
                     "5000 dimensions were requested, but multilingual-e5-small-q4 gives 384: its full "
                     "384-dimensional vectors are used."),
}


def literal(markdown: str) -> str:
    """What a reader sees of escaped Markdown (the app escapes every message it did not write)."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("  \n", "\n")


def shown(at: AppTest) -> tuple[list[str], list[str]]:
    """(warnings, errors) drawn anywhere on the page, sidebar included, but the served-model banner (the
    stand-in serves another model than a configured Qwen3-Embedding: tests/app/test_served_model.py)."""
    banner = "**The figures on these pages are not Qwen3-Embedding-0.6B's.**"
    return ([literal(w.value) for w in at.warning if not w.value.startswith(banner)],
            [literal(e.value) for e in at.error])


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("setting", BAD_DIMENSIONS)
def test_every_page_renders_with_unusable_dimensions_and_says_so_once(setting, script, app_env, monkeypatch):
    env, warning = BAD_DIMENSIONS[setting]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    at = open_page(script, 120)
    assert not at.exception, [e.value for e in at.exception]
    assert shown(at) == ([warning], [])
    assert at.sidebar.number_input(key="conn.dimensions").value == 0  # the full size, as used


def test_the_dimensions_field_is_bounded_by_the_model(app_env, monkeypatch):
    monkeypatch.setenv("EMBEDDING_MODEL", "Qwen/Qwen3-Embedding-4B")
    monkeypatch.setenv("EMBEDDING_DIMENSIONS", "256")  # within the 4B's range and the stand-in's 384
    at = open_page(HOME, 60)
    field = at.sidebar.number_input(key="conn.dimensions")
    assert (field.value, field.min, field.max) == (256, 0, 2560) and shown(at) == ([], [])
    assert "allows 32 to 2560" in field.help
    # A model only its server knows: no bound is invented below what the server returns.
    monkeypatch.setenv("EMBEDDING_MODEL", "multilingual-e5-small-q4")
    monkeypatch.delenv("EMBEDDING_DIMENSIONS")
    at = open_page(HOME, 60)
    assert at.sidebar.number_input(key="conn.dimensions").max is None


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_page_renders_with_a_read_only_data_directory(script, app_env, tmp_path):
    data = Path(app_env["PLAYGROUND_DATA_DIR"])
    with read_only(data):
        at = open_page(script, 120)
    assert not at.exception, [e.value for e in at.exception]
    warnings, errors = shown(at)
    assert warnings == [f"Running without the disk cache: {data / 'embeddings.sqlite'} cannot be used (writing "
                        "there is not permitted). Vectors are kept in memory until the app restarts."]
    assert [w.value for w in at.sidebar.warning] == [w.value for w in at.warning]  # said in the sidebar
    if script.endswith(("Search.py", "Judge.py")):  # the pages that need the store say why it cannot open
        [error] = errors
        assert error.startswith(f"The embedded Chroma database at {data / 'chroma'} cannot be written")
    else:
        assert errors == []


def test_read_only_data_directory_compares_and_refuses_to_save(app_env):
    data = Path(app_env["PLAYGROUND_DATA_DIR"])
    data.mkdir(parents=True)
    (data / "instructions.json").write_text('{"version": 1, "instructions": [{"name": "Mine", "task": "my task"}]}')
    before = (data / "instructions.json").read_bytes()
    with read_only(data):
        at = AppTest.from_file(LAB, default_timeout=120).run()
        assert "Mine" in at.selectbox(key="instr.w.pick").options  # what was saved is still read
        at.button(key="instr.run").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert at.get("plotly_chart")  # the comparison is drawn
        [caption] = [c.value for c in at.sidebar.caption if c.value.startswith("Embedding cache")]
        assert caption.startswith("Embedding cache (in memory):") and not caption.startswith(
            "Embedding cache (in memory): 0 vectors")

        at.text_input(key="instr.w.edit_name").input("New one")
        at.text_area(key="instr.w.edit_task").input("a new task")
        [save] = [b for b in at.button if b.label == "Save instruction"]
        save.click().run()
        assert not at.exception
        assert [literal(e.value) for e in at.error] == [
            f"The instruction library could not be saved in {data}: writing there is not permitted. Nothing was "
            "changed; the saved instructions are as they were."]
        assert at.text_input(key="instr.w.edit_name").value == "New one"  # the typed text is kept
    assert (data / "instructions.json").read_bytes() == before


def test_full_disk_compare_still_shows_results_and_keeps_what_was_stored(app_env, monkeypatch):
    data = Path(app_env["PLAYGROUND_DATA_DIR"])
    cache_path = data / "embeddings.sqlite"
    kept = EmbeddingCache(cache_path)
    kept.put_many("earlier@model", None, ["stored before"], np.full((1, 384), 0.05, np.float32))
    kept.close()
    cap_sqlite_growth(monkeypatch, cache_path)  # SQLite answers "database or disk is full"

    at = AppTest.from_file(LAB, default_timeout=120).run()
    at.button(key="instr.run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert len([c for c in at.get("plotly_chart")]) >= 3  # the heatmaps are drawn
    [warning] = [literal(w.value) for w in at.warning]
    assert re.fullmatch(
        r"The embedding cache could not save \d+ new vector\(s\): the disk is full\. The results are complete, "
        r"but those texts will be embedded again next time\. Everything the cache held before is kept; caching "
        rf"resumes once {re.escape(str(cache_path))} can be written again\.", warning), warning
    [caption] = [c.value for c in at.sidebar.caption if c.value.startswith("Embedding cache")]
    assert "not saved (the disk is full)" in literal(caption)

    again = EmbeddingCache(cache_path)
    assert len(again) == 1
    np.testing.assert_array_equal(again.get_many("earlier@model", None, ["stored before"])["stored before"],
                                  np.full(384, 0.05, np.float32))
    with sqlite3.connect(cache_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_full_disk_saving_an_instruction_says_so_and_keeps_the_library(app_env, monkeypatch):
    at = AppTest.from_file(LAB, default_timeout=120).run()
    at.text_input(key="instr.w.edit_name").input("Kept")
    at.text_area(key="instr.w.edit_task").input("a kept task")
    [save] = [b for b in at.button if b.label == "Save instruction"]
    save.click().run()
    data = Path(app_env["PLAYGROUND_DATA_DIR"])
    before = (data / "instructions.json").read_bytes()

    full_disk_for_temp_files(monkeypatch, data)  # every write there fails with ENOSPC (OSError 28)
    at.selectbox(key="instr.w.edit_target").set_value("(new instruction)").run()
    at.text_input(key="instr.w.edit_name").input("Lost?")
    at.text_area(key="instr.w.edit_task").input("a task that cannot be written")
    [save] = [b for b in at.button if b.label == "Save instruction"]
    save.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [literal(e.value) for e in at.error] == [
        f"The instruction library could not be saved in {data}: the disk is full. Nothing was changed; the saved "
        "instructions are as they were."]
    assert at.text_input(key="instr.w.edit_name").value == "Lost?"  # the typed text is kept to try again
    assert (data / "instructions.json").read_bytes() == before
    assert sorted(p.name for p in data.iterdir() if p.name.startswith(".instructions")) == []  # no temp file left
    # The page keeps working: Compare runs.
    at.button(key="instr.run").click().run()
    assert not at.exception and at.get("plotly_chart")
