from components.nav import page_entries


def test_pages_are_listed_in_menu_order_with_their_summaries():
    entries = page_entries()
    assert [e.title for e in entries] == ["Instructions", "Chunking", "Clusters", "Search", "Evaluate", "Judge",
                                          "Benchmark", "Server check"]
    assert all(e.path.startswith("pages/") and e.summary for e in entries)
