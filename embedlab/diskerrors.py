"""Why a write to disk failed, in words a user can act on (disk full, read-only, not permitted)."""

from __future__ import annotations

import errno
import sqlite3

from embedlab.messages import N_, Message

_ERRNO_REASONS = {
    errno.ENOSPC: N_("the disk is full"),
    errno.EDQUOT: N_("the disk quota is used up"),
    errno.EFBIG: N_("the file has reached the size limit"),
    errno.EROFS: N_("the file system is read-only"),
    errno.EACCES: N_("writing there is not permitted"),
    errno.EPERM: N_("writing there is not permitted"),
}

_SQLITE_REASONS = {
    "SQLITE_FULL": N_("the disk is full"),
    "SQLITE_READONLY": N_("the database is read-only"),
    "SQLITE_CANTOPEN": N_("the database file cannot be created or opened there"),
}


def write_failure(exc: BaseException) -> Message:
    """A short reason for a failed write, e.g. "the disk is full" (translatable; str() is English);
    the error's own text otherwise."""
    if isinstance(exc, OSError) and exc.errno in _ERRNO_REASONS:
        return Message(_ERRNO_REASONS[exc.errno])
    if isinstance(exc, sqlite3.Error):
        name = getattr(exc, "sqlite_errorname", "") or ""
        for prefix, reason in _SQLITE_REASONS.items():
            if name.startswith(prefix):
                return Message(reason)
    if isinstance(exc, OSError) and exc.strerror:
        return Message("{reason}", {"reason": exc.strerror})  # the system's own words, as they are
    return Message("{reason}", {"reason": str(exc) or type(exc).__name__})

