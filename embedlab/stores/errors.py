"""The errors of the vector stores: one family (`StoreError`, a LocalizedError), so a page shows any
store failure the same way; `embedlab.stores.base` re-exports them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from embedlab.messages import LocalizedError


class StoreError(LocalizedError):
    """Base of the store errors: `error.message` is fit to show a user (translated by the UI), str(error)
    its English text."""


class InvalidName(StoreError):
    """A collection name Chroma would refuse."""


class CollectionExists(StoreError):
    pass


class CollectionMissing(StoreError):
    pass


class StoreLocked(StoreError):
    """Another process has the embedded Chroma directory open."""


class ModelMismatch(StoreError):
    """The collection was built with another embedding model or dimension."""


class RecordError(LocalizedError, ValueError):
    """A record of an export cannot be imported; the message names the row."""


class PartialWrite(StoreError):
    """A write failed after some batches were stored; `written_ids` were stored and are intact."""

    def __init__(self, msgid: str, written_ids: Sequence[str], total: int, **params: Any) -> None:
        super().__init__(msgid, **params)
        self.written_ids = list(written_ids)
        self.total = total
