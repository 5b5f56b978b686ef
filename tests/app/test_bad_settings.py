"""Every page with an unusable setting: one clear message, never a traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ["app.py", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))]

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
    """(warnings, errors) drawn anywhere on the page, sidebar included."""
    return [literal(w.value) for w in at.warning], [literal(e.value) for e in at.error]


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("setting", BAD_DIMENSIONS)
def test_every_page_renders_with_unusable_dimensions_and_says_so_once(setting, script, app_env, monkeypatch):
    env, warning = BAD_DIMENSIONS[setting]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    at = AppTest.from_file(str(ROOT / script), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert shown(at) == ([warning], [])
    assert at.sidebar.number_input(key="conn.dimensions").value == 0  # the full size, as used


def test_the_dimensions_field_is_bounded_by_the_model(app_env, monkeypatch):
    monkeypatch.setenv("EMBEDDING_MODEL", "Qwen/Qwen3-Embedding-4B")
    monkeypatch.setenv("EMBEDDING_DIMENSIONS", "256")  # within the 4B's range and the stand-in's 384
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    field = at.sidebar.number_input(key="conn.dimensions")
    assert (field.value, field.min, field.max) == (256, 0, 2560) and not at.warning
    assert "allows 32 to 2560" in field.help
    # A model only its server knows: no bound is invented below what the server returns.
    monkeypatch.setenv("EMBEDDING_MODEL", "multilingual-e5-small-q4")
    monkeypatch.delenv("EMBEDDING_DIMENSIONS")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert at.sidebar.number_input(key="conn.dimensions").max is None
