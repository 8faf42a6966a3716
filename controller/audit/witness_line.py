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
    key_start: str | None = None
    """The MAC of the log's signed key start when this head was published, if keyed."""


def witness_mac(
    key: Secret, at: str, seq: int, digest: str, key_start: str | None = None
) -> str:
    body: dict[str, Any] = {"kind": "witness", "at": at, "seq": seq, "hash": digest}
    # Only present when published, so lines written before it was published still verify.
    if key_start is not None:
        body["key_start"] = key_start
    return keyed_hash(key, canonical_json(body))


def witness_line(
    at: str, head: tuple[int, str], key: Secret | None, key_start: str | None = None
) -> str:
    """The line appended to the witness file: JSON, signed when a key is configured.
    ``key_start`` (the MAC of the log's key start) lets verification see a log re-keyed
    after this line was published."""
    seq, digest = head
    value: dict[str, Any] = {"at": at, "seq": seq, "hash": digest}
    if key_start is not None:
        value["key_start"] = key_start
    if key is not None:
        value["mac"] = witness_mac(key, at, seq, digest, key_start)
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
            key_start = value.get("key_start")
            if not (
                isinstance(seq, int)
                and isinstance(digest, str)
                and isinstance(at, str)
                and (mac is None or isinstance(mac, str))
                and (key_start is None or isinstance(key_start, str))
            ):
                raise TypeError
        except (ValueError, TypeError, KeyError, AttributeError):
            return parsed, (number, "not a witness line (JSON with at, seq, hash)")
        parsed.append(WitnessLine(at, seq, digest, mac, key_start))
    return parsed, None
