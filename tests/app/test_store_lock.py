"""The Search page when another app process holds the embedded Chroma path: a message, no crash."""

from __future__ import annotations

from tests.support.apptest import SEARCH, open_page
from tests.support.markdown import shown
from tests.support.store_procs import HELD_COLLECTION, hold_store


def test_search_page_on_a_path_held_by_another_process(app_env, monkeypatch, tmp_path):
    path = tmp_path / "shared-chroma"
    monkeypatch.setenv("CHROMA_PATH", str(path))
    # The other process made a collection for the model this page uses, so it is usable here later.
    holder = hold_store(path, f"{app_env['EMBEDDING_MODEL']}@{app_env['EMBEDDING_BASE_URL']}", 384)
    try:
        at = open_page(SEARCH, 120)
        assert not at.exception
        [message] = [shown(e.value) for e in at.error]
        assert f"Another app process (PID {holder.pid}) is using the embedded Chroma database at {path}" in message
        assert "chroma run --path" in message and "CHROMA_HOST" in message and "CHROMA_PATH" in message
        # No create/ingest controls on a store that is not ours; the sidebar still works.
        assert not [b for b in at.button if b.key.startswith("search.")]
        assert at.button(key="conn.test")
    finally:
        holder.stop()
    # Once the other process is gone, the next rerun opens the store (a refusal is not cached).
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = next(df.value for df in at.dataframe if "collection" in df.value.columns)
    assert HELD_COLLECTION in set(table["collection"])
