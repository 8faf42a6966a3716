"""The line the access log's outside witness holds (S3): a head as signed JSON.
Pure code; writing the file is :mod:`controller.audit.witness`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from controller.audit.entries import canonical_json, keyed_hash
from controller.secrets import Secret


@dataclass(frozen=True)
class WitnessLine:
    """One head the daemon published outside the store."""

    at: str
    seq: int
    hash: str
    mac: str | None


def witness_mac(key: Secret, at: str, seq: int, digest: str) -> str:
    return keyed_hash(
        key, canonical_json({"kind": "witness", "at": at, "seq": seq, "hash": digest})
    )


def witness_line(at: str, head: tuple[int, str], key: Secret | None) -> str:
    """The line appended to the witness file: JSON, signed when a key is configured."""
    seq, digest = head
    value: dict[str, Any] = {"at": at, "seq": seq, "hash": digest}
    if key is not None:
        value["mac"] = witness_mac(key, at, seq, digest)
    return canonical_json(value).decode("utf-8")


def parse_witness(lines: Iterable[str]) -> tuple[list[WitnessLine], tuple[int, str] | None]:
    """The witness lines, or the first unreadable one as (line number, why)."""
    parsed: list[WitnessLine] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
            seq, digest, at = value["seq"], value["hash"], value["at"]
            mac = value.get("mac")
            if not (
                isinstance(seq, int)
                and isinstance(digest, str)
                and isinstance(at, str)
                and (mac is None or isinstance(mac, str))
            ):
                raise TypeError
        except (ValueError, TypeError, KeyError, AttributeError):
            return parsed, (number, "not a witness line (JSON with at, seq, hash)")
        parsed.append(WitnessLine(at, seq, digest, mac))
    return parsed, None
