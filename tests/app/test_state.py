"""The one way to keep widget values: declared keys, seeded once, drawn with persist_state="session"."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _page(persist: bool) -> AppTest:
    """A page that draws one declared widget only while "show" is true (as if switching pages)."""

    def script(persist: bool) -> None:
        import streamlit as st

        from components import state

        state.init_state()
        if st.session_state.get("show", True):
            st.number_input("Requests per point", 1, 100, key=state.BENCH_REQUESTS,
                            persist_state="session" if persist else None)

    return AppTest.from_function(script, kwargs={"persist": persist}, default_timeout=30)


def _value_after_hiding_and_showing(persist: bool) -> int:
    at = _page(persist).run()
    assert at.number_input(key="bench.requests").value == 4  # the declared default, seeded once
    at.number_input(key="bench.requests").set_value(7).run()
    at.session_state["show"] = False
    at.run()  # the widget is not drawn: Streamlit cleans its value up unless it persists
    at.session_state["show"] = True
    at.run()
    return at.number_input(key="bench.requests").value


def test_a_declared_widget_keeps_its_value_while_it_is_not_drawn():
    assert _value_after_hiding_and_showing(persist=True) == 7


def test_without_persist_state_streamlit_forgets_it():
    # The control case: shows that the test above measures the declared way, not Streamlit's default.
    assert _value_after_hiding_and_showing(persist=False) == 4


def test_keep_valid_drops_a_value_that_is_no_longer_an_option():
    def script() -> None:
        import streamlit as st

        from components import state

        st.session_state["search.w.collection"] = "deleted_v1"
        state.keep_valid("search.w.collection", ["hr_v1", "it_v1"])
        st.write("kept" if "search.w.collection" in st.session_state else "dropped")
        st.session_state["x"] = "b"
        state.keep_valid("x", ["a", "b"], fallback="a")
        st.session_state["y"] = "gone"
        state.keep_valid("y", ["a", "b"], fallback="a")
        st.write(st.session_state["x"], st.session_state["y"])

    at = AppTest.from_function(script).run()
    assert [m.value for m in at.markdown] == ["dropped", "b a"]
