from embedlab.instructions import DEFAULT_TASK, DEFAULT_TEMPLATE, format_document, format_query


def test_official_template():
    assert DEFAULT_TEMPLATE == "Instruct: {task}\nQuery:{query}"
    assert format_query(DEFAULT_TASK, "what is X") == f"Instruct: {DEFAULT_TASK}\nQuery:what is X"


def test_no_task_means_no_instruction():
    assert format_query("", "q") == "q" and format_query("   ", "q") == "q"


def test_braces_in_user_text_are_kept():
    assert format_query("find {json}", "a {query} b") == "Instruct: find {json}\nQuery:a {query} b"


def test_documents_are_not_instructed_unless_symmetric():
    assert format_document("doc") == "doc"
    assert format_document("doc", task="cluster") == "Instruct: cluster\nQuery:doc"
