"""Instruction templates: how a task description and a query become the model's input.

Qwen3-Embedding expects queries as `Instruct: {task}\\nQuery:{query}` (no space after
"Query:"); documents are embedded as they are for retrieval.
"""

from __future__ import annotations

DEFAULT_TEMPLATE = "Instruct: {task}\nQuery:{query}"
DEFAULT_TASK = "Given a web search query, retrieve relevant passages that answer the query"


def format_query(task: str, query: str, template: str = DEFAULT_TEMPLATE) -> str:
    """The exact string sent to the model for `query` under instruction `task`.

    An empty or blank task means "no instruction": the query is returned unchanged.
    """
    if not task or not task.strip():
        return query
    # str.replace, not str.format: user text may contain braces.
    return template.replace("{task}", task.strip()).replace("{query}", query)


def format_document(document: str, task: str | None = None, template: str = DEFAULT_TEMPLATE) -> str:
    """Documents are not instructed for retrieval; pass `task` for symmetric tasks (STS, clustering)."""
    return document if task is None else format_query(task, document, template)
