"""The domain records, kept under their old import path for the store's own modules and
the code that reads rows; they live in :mod:`controller.records`, outside the store, so
the pure call machines import them without loading the store's SQLite stack."""

from controller.records import (
    UNKNOWN_AGENT,
    CallStart,
    Condemned,
    ConsentEvent,
    Decision,
    LiveRecordingRow,
    OpenCall,
    PaymentRecord,
    RecordingRow,
    SamplingAudit,
    SheetRow,
    Unkept,
)

__all__ = [
    "UNKNOWN_AGENT",
    "CallStart",
    "Condemned",
    "ConsentEvent",
    "Decision",
    "LiveRecordingRow",
    "OpenCall",
    "PaymentRecord",
    "RecordingRow",
    "SamplingAudit",
    "SheetRow",
    "Unkept",
]
