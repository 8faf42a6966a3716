"""What the access log's store raises when it must not write (S3, S7, T3).

Each carries a stable ``error_id`` callers branch on. An access that cannot be logged is
refused: none of these is ever swallowed to let the access happen unlogged.
"""

from __future__ import annotations


class AccessLogError(Exception):
    """The access log cannot take this write; nothing was written."""

    error_id = "access-log-error"


class KeyStartMissing(AccessLogError):
    """The audit key is configured and the log holds entries, but its signed key start is
    gone. Writing a new one would bless whatever the log holds now, so appends stop until
    a person looks (``reccontrol audit verify``)."""

    error_id = "access-log-key-start-missing"


class HeadMissing(AccessLogError):
    """The recorded head row is gone: the chain cannot be extended safely."""

    error_id = "access-log-head-missing"


class CutRefused(AccessLogError):
    """The purge would have sealed entries that do not verify behind a checkpoint."""

    error_id = "access-log-cut-refused"


class AdoptRefused(AccessLogError):
    """An existing log cannot be switched over to the audit key as it stands."""

    error_id = "access-log-adopt-refused"
