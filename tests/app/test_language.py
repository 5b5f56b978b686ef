"""The language is chosen per session: ?lang=, the browser's locale, the sidebar switch."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def _home(**setup) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for name, value in setup.items():
        getattr(at, name).update(value)
    return at.run()


def _menu(at: AppTest) -> list[str]:
    return [link.label for link in at.sidebar.get("page_link")]


def test_english_by_default(app_env):
    at = _home()
    assert not at.exception
    assert _menu(at)[0] == "Home"
    assert at.session_state["lang"] == "en"


def test_a_chinese_browser_gets_chinese_on_first_load(app_env):
    at = _home(context={"locale": "zh-CN"})
    assert not at.exception
    assert _menu(at)[:2] == ["首页", "指令实验室"]
    assert at.query_params["lang"] == ["zh"] or at.query_params["lang"] == "zh"


def test_the_url_wins_over_the_browser(app_env):
    at = _home(context={"locale": "zh-CN"}, query_params={"lang": "en"})
    assert _menu(at)[0] == "Home"


def test_the_switch_changes_the_language_and_the_url(app_env):
    at = _home(query_params={"lang": "zh"})
    assert _menu(at)[0] == "首页"
    at.sidebar.get("button_group")[0].set_value("en").run()
    assert not at.exception
    assert _menu(at)[0] == "Home"
    assert at.query_params["lang"] in ("en", ["en"])


def test_two_sessions_at_once_each_keep_their_own_language(app_env):
    chinese, english = _home(query_params={"lang": "zh"}), _home(query_params={"lang": "en"})
    chinese.run()  # a rerun of one session after the other one ran
    assert _menu(chinese)[0] == "首页" and _menu(english)[0] == "Home"
