"""The pure part of the Milvus store: which collection names Milvus accepts, Chroma-style filters as
Milvus boolean expressions, and records as Milvus rows that fit the field sizes (see
`embedlab.stores.milvus` for the fields of a collection)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from embedlab.messages import N_, Message
from embedlab.stores.errors import InvalidName, StoreError
from embedlab.stores.names import validate_name

ID_BYTES = 512
TEXT_BYTES = 65_535
SOURCE_BYTES = 2_048
NO_CHUNK = -1  # `chunk` field of a record without an integer chunk index
FILTER_FIELDS: dict[str, type] = {"source": str, "chunk": int}


def validate_milvus_name(name: str) -> str:
    """The stripped name if both Chroma and Milvus accept it, else InvalidName saying what to change.

    Milvus allows letters, digits and '_' only, starting with a letter or '_'; keeping names valid
    for both stores lets an export move between them.
    """
    name = validate_name(name)
    if any(ch in "-." for ch in name) or not name[0].isalpha():
        suggestion = name.replace("-", "_").replace(".", "_")
        if not suggestion[0].isalpha():
            suggestion = f"c_{suggestion}"
        raise InvalidName(N_(
            "Collection name {name} cannot be used in Milvus: only letters, digits and '_' are "
            "allowed, starting with a letter. Try {suggestion}."
        ), name=repr(name), suggestion=repr(suggestion[:63]))
    return name


def quote(value: str) -> str:
    """`value` as a Milvus filter string literal, escaped so that it cannot end the literal."""
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"')
               .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


def _literal(field: str, value: Any) -> str:
    kind = FILTER_FIELDS[field]
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return str(int(value))
    if kind is str and isinstance(value, str):
        return quote(value)
    if kind is int:
        raise StoreError(N_("A filter on {field} needs whole numbers, got {value}."), field=repr(field), value=repr(value))
    raise StoreError(N_("A filter on {field} needs text, got {value}."), field=repr(field), value=repr(value))


def _condition(field: str, cond: Any) -> str:
    op, value = next(iter(cond.items())) if isinstance(cond, Mapping) and len(cond) == 1 else ("$eq", cond)
    if op in ("$in", "$nin"):
        if not isinstance(value, list | tuple) or not value:
            raise StoreError(N_("A {op} filter on {field} needs a non-empty list."), op=op, field=repr(field))
        inner = ", ".join(_literal(field, v) for v in value)
        return f"{field} {'in' if op == '$in' else 'not in'} [{inner}]"
    symbols = {"$eq": "==", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
    if op not in symbols or (op not in ("$eq", "$ne") and FILTER_FIELDS[field] is not int):
        raise StoreError(N_("The Milvus store cannot filter {field} with {op}."), field=repr(field), op=repr(op))
    return f"{field} {symbols[op]} {_literal(field, value)}"


def milvus_filter(where: Mapping[str, Any] | None) -> str:
    """A Chroma-style `where` (see VectorStore) as a Milvus boolean expression; "" for none.

    Examples: {"source": "a.md"} -> 'source == "a.md"';
    {"$and": [{"source": "a"}, {"chunk": {"$in": [1, 3]}}]} -> '(source == "a") and (chunk in [1, 3])'.
    Raises StoreError for keys other than FILTER_FIELDS or malformed clauses.
    """
    if not where:
        return ""
    parts = []
    for key, cond in where.items():
        if key in ("$and", "$or"):
            if not isinstance(cond, list | tuple) or not cond:
                raise StoreError(N_("A {key} filter needs a non-empty list of clauses."), key=key)
            joined = f" {key[1:]} ".join(f"({milvus_filter(c)})" for c in cond)
            parts.append(joined if len(cond) > 1 else joined[1:-1])
        elif key in FILTER_FIELDS:
            parts.append(_condition(key, cond))
        else:
            raise StoreError(N_("The Milvus store filters on {fields} only, not on {key}."),
                             fields=" and ".join(FILTER_FIELDS), key=repr(key))
    return parts[0] if len(parts) == 1 else " and ".join(f"({p})" for p in parts)


def ids_filter(ids: Sequence[str]) -> str:
    return f"id in [{', '.join(quote(i) for i in ids)}]"


def milvus_row(rid: str, text: str, meta: Mapping[str, Any], vector: np.ndarray) -> dict[str, Any]:
    """One Milvus row; ValueError for metadata Chroma would refuse too (so the stores agree)."""
    clean: dict[str, Any] = {}
    for key, val in meta.items():
        if val is None:  # as in Chroma's store: a None value means "no such key"
            continue
        if not isinstance(key, str) or not isinstance(val, str | int | float | bool):
            raise ValueError(f"record {rid!r}: metadata {key!r} must be text, a number or true/false, "
                             f"not {type(val).__name__}")
        clean[key] = val
    source, chunk = clean.get("source"), clean.get("chunk")
    return {
        "id": rid,
        "vector": vector,
        "text": text,
        "source": "" if source is None else str(source),
        "chunk": chunk if isinstance(chunk, int) and not isinstance(chunk, bool) else NO_CHUNK,
        "metadata": clean,
    }


def too_big(ids: Sequence[str], texts: Sequence[str], metadatas: Sequence[Mapping[str, Any]]) -> Message | None:
    """Why a record cannot fit Milvus's field sizes (bytes of UTF-8), or None."""
    for i, (rid, text, meta) in enumerate(zip(ids, texts, metadatas, strict=True)):
        named = repr(str(meta.get("source", "")) or rid)
        where = (Message(N_("record {n} ({name}, chunk {chunk})"), {"n": i + 1, "name": named, "chunk": meta["chunk"]})
                 if "chunk" in meta else Message(N_("record {n} ({name})"), {"n": i + 1, "name": named}))
        if len(rid.encode()) > ID_BYTES:
            return Message(N_("The id of {where} is longer than {limit} bytes; give it a shorter id."),
                           {"where": where, "limit": ID_BYTES})
        size = len(text.encode())
        if size > TEXT_BYTES:
            return Message(N_("The text of {where} has {size} bytes; a Milvus text field holds at most "
                              "{limit}. Split the document into smaller chunks (e.g. 2,048 tokens)."),
                           {"where": where, "size": f"{size:,}", "limit": f"{TEXT_BYTES:,}"})
        if len(str(meta.get("source", "")).encode()) > SOURCE_BYTES:
            return Message(N_("The source name of {where} is longer than {limit} bytes; shorten it."),
                           {"where": where, "limit": f"{SOURCE_BYTES:,}"})
    return None
