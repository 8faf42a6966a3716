"""The inspection pack of a period (D3): documents, sampling audit, access log with its
verdict and signed head, deletion receipts, alerts, configurations in force, and a signed
manifest."""

from controller.inspection.pack import (
    PackRefused,
    PackSummary,
    PackVerdict,
    Period,
    make_pack,
    sampling_table,
    verify_pack,
)

__all__ = [
    "PackRefused",
    "PackSummary",
    "PackVerdict",
    "Period",
    "make_pack",
    "sampling_table",
    "verify_pack",
]
