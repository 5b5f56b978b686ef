"""An experiment's queries (typed, uploaded or bundled) and the rater's name, cleaned and checked."""

from __future__ import annotations

from collections.abc import Sequence

from embedlab import ingest
from embedlab.evaluation.datasets import BUNDLED, load_bundled
from embedlab.judgments.base import LLM_PREFIX, JudgeError
from embedlab.messages import N_
from embedlab.textio import UploadError, decode_bytes, guess_text_column, read_table, texts_from_column

MAX_QUERIES = 200
MAX_QUERY_CHARS = 2000
MAX_RATER_CHARS = 60


def clean_queries(texts: Sequence[str]) -> list[str]:
    """Stripped, non-empty, first occurrence of each; JudgeError when none is left or too many."""
    out: list[str] = []
    seen: set[str] = set()
    for raw in texts:
        text = str(raw).strip()
        text = " ".join(text.split()) if "\n" in text else text  # a query is one line
        if text and text not in seen:
            if len(text) > MAX_QUERY_CHARS:
                raise JudgeError(N_("A query has {n} characters (at most {limit}): {start}…"),
                                 n=f"{len(text):,}", limit=f"{MAX_QUERY_CHARS:,}", start=repr(text[:60]))
            seen.add(text)
            out.append(text)
    if not out:
        raise JudgeError(N_("No queries: type one per line, upload a file or pick a bundled set."))
    if len(out) > MAX_QUERIES:
        raise JudgeError(N_("{n} queries is too many for one experiment; use at most {limit}."),
                         n=len(out), limit=MAX_QUERIES)
    return out


def queries_from_text(text: str) -> list[str]:
    """One query per non-empty line."""
    return clean_queries(text.splitlines())


def queries_from_file(data: bytes, filename: str) -> list[str]:
    """Queries from an upload: .txt one per line; .csv/.tsv/.jsonl from the column named query,
    question or text (else the column of longest texts).

    Raises:
        JudgeError: unreadable file, no text column or no queries.
    """
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    try:
        if suffix in ("txt", "md", ""):
            return clean_queries(decode_bytes(data).text.splitlines())
        frame = read_table(data, filename)
        lowered = {str(c).lower().strip(): c for c in frame.columns}
        column = next((lowered[n] for n in ("query", "question", "queries", "questions") if n in lowered), None)
        column = column or guess_text_column(frame)
        if column is None:
            raise JudgeError(N_("{file}: no column with text found (columns: {columns}). "
                                "Name the query column 'query'."),
                             file=filename, columns=", ".join(map(str, frame.columns)))
        return clean_queries(texts_from_column(frame, column))
    except UploadError as exc:
        raise JudgeError(N_("{file}: {error}"), file=filename, error=exc.message) from None


def bundled_query_sets() -> dict[str, str]:
    """Name -> where the queries come from, for the bundled query sets (sample collections'
    questions and the labelled sets' queries)."""
    out = {}
    for domain in ingest.SAMPLE_DOMAINS:
        sample = ingest.load_domain_sample(domain)
        out[f"{sample.collection} sample questions"] = f"questions of the {sample.collection} sample collection"
    for name in BUNDLED:
        out[f"{name} queries"] = f"queries of the labelled set {name!r} (Evaluate page)"
    return out


def bundled_queries(name: str) -> list[str]:
    """The queries of a bundled set named by `bundled_query_sets`; JudgeError for other names."""
    for domain in ingest.SAMPLE_DOMAINS:
        sample = ingest.load_domain_sample(domain)
        if name == f"{sample.collection} sample questions":
            return clean_queries(sample.questions)
    for set_name in BUNDLED:
        if name == f"{set_name} queries":
            return clean_queries([q.text for q in load_bundled(set_name).queries])
    raise JudgeError(N_("No bundled query set {name}."), name=repr(name))


def bundled_for_collection(collection: str) -> str | None:
    """The bundled query set written for `collection` (a sample collection), if any."""
    sample = ingest.sample_for_collection(collection)
    return f"{sample.collection} sample questions" if sample else None


def validate_rater(name: str) -> str:
    """The stripped rater name; JudgeError when empty, too long, or taken by the LLM judge."""
    name = " ".join((name or "").split())
    if not name:
        raise JudgeError(N_("Enter your name as rater first: judgments are kept per rater."))
    if len(name) > MAX_RATER_CHARS:
        raise JudgeError(N_("A rater name has at most {limit} characters."), limit=MAX_RATER_CHARS)
    if name.lower().startswith(LLM_PREFIX.lower()):
        raise JudgeError(N_("Names starting with {prefix} are kept for the LLM judge; choose another."),
                         prefix=repr(LLM_PREFIX))
    return name
