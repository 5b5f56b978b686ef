"""Security properties seen from outside: secrets never reach the page or logs; safe config."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tests.e2e.conftest import ROOT, wait_idle

SECRET = "sk-test-SECRET-7f3a9c"


def _pages() -> list[str]:
    return [""] + [p.stem.split("_", 1)[1] for p in sorted((ROOT / "pages").glob("*.py"))]


def test_api_key_never_reaches_pages_or_logs(start_app, page, tmp_path):
    url = start_app(EMBEDDING_API_KEY=SECRET)
    for path in _pages():
        page.goto(f"{url}/{path}")
        wait_idle(page, 120_000)
        page.get_by_text("Settings").first.click()  # open the sidebar settings with the key field
        assert SECRET not in page.content(), f"API key rendered on /{path}"
        assert page.locator("input[type='password']").first.input_value() == ""
    logs = "".join(p.read_text(errors="replace") for p in Path(tmp_path).glob("streamlit-*.log"))
    assert SECRET not in logs


def test_config_hides_tracebacks_and_keeps_xsrf_protection():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"
    assert config["server"]["enableXsrfProtection"] is True
    assert 1 <= config["server"]["maxUploadSize"] <= 200
