"""A backup's manifest: what it holds, read strictly and signed with the audit key.

Pure code: no I/O. The manifest says what the backup is (schema version, access-log
head, the store copy's SHA-256, a digest of the rows of the tables a tamperer would
want to change, every vault file with its size and SHA-256) and carries an HMAC of all
that under the audit key, the key the access log is signed with. Without the key, a
store copy edited and re-hashed cannot be given a matching manifest.

Nothing in a manifest is trusted before it is checked: every field has one type, file
names are plain names (the files are always looked for in the backup's own folders),
and a malformed manifest is a :class:`ManifestError` naming the field, never a
traceback.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.audit.entries import canonical_json, keyed_hash
from controller.secrets import Secret

MANIFEST = "manifest.json"
STORE_COPY = "reccontrol.sqlite3"
VAULT_COPY = "vault"
FORMAT = 2
ALGORITHM = "hmac-sha256"
# A MAC of a manifest can never pass for one of an access-log entry, a checkpoint or a
# witness line signed with the same key.
SIGNING_CONTEXT = b"reccontrol backup manifest\n"
SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Tables whose rows are digested in the manifest: what decides whether a caller may be
# recorded (objections) and what is kept and until when (recordings and the rest; a
# legal hold keeps a call past its expiry, a rectification note belongs to its sheet; a
# transferred call's later segments are decided in segment_decisions). Each with the
# schema version that brought it: a store older than that has no such table to digest.
DIGESTED_SINCE: Mapping[str, int] = {
    "calls": 0,
    "consent_events": 0,
    "decisions": 0,
    "legal_holds": 0,
    "objections": 0,
    "recording_deletions": 0,
    "recordings": 0,
    "segment_decisions": 14,
    "sheet_rectifications": 0,
    "sheets": 0,
}
DIGESTED_TABLES = tuple(DIGESTED_SINCE)


def digested_tables(schema_version: int) -> tuple[str, ...]:
    """The tables a store at ``schema_version`` has, of those the manifest digests."""
    return tuple(t for t, since in DIGESTED_SINCE.items() if since <= schema_version)


class ManifestError(Exception):
    """A manifest that is not one: unreadable, not JSON, a field missing or of the wrong
    type, a file name that is not a plain name. The message names the field."""

    error_id = "backup-manifest-malformed"


@dataclass(frozen=True)
class VaultEntry:
    name: str
    size: int
    sha256: str
    recording_id: str | None
    """The store row naming this file in the backup's snapshot, if any."""
    audio_sha256: str | None = None
    """S10: for a file sealed at rest, the SHA-256 of its plaintext (the hash the store
    keeps), checked when the backup was taken; ``sha256`` is then of the sealed bytes.
    None: the file is plaintext and ``sha256`` is the audio's."""


@dataclass(frozen=True)
class TableDigest:
    rows: int
    sha256: str


@dataclass(frozen=True)
class Signature:
    algorithm: str
    mac: str


@dataclass(frozen=True)
class Manifest:
    created_at: str
    reccontrol_version: str
    schema_version: int
    store_file: str
    store_sha256: str
    tables: Mapping[str, TableDigest]
    access_log_head: tuple[int, str]
    audio_copied: bool
    vault: tuple[VaultEntry, ...]
    signature: Signature | None

    def body(self) -> dict[str, Any]:
        """Everything the signature covers: the manifest without its signature."""
        return {
            "format": FORMAT,
            "created_at": self.created_at,
            "reccontrol_version": self.reccontrol_version,
            "schema_version": self.schema_version,
            "store": {"file": self.store_file, "sha256": self.store_sha256},
            "tables": {
                name: {"rows": t.rows, "sha256": t.sha256} for name, t in self.tables.items()
            },
            "access_log_head": {"seq": self.access_log_head[0], "hash": self.access_log_head[1]},
            "audio_copied": self.audio_copied,
            "vault": [_entry_json(e) for e in self.vault],
        }

    def to_json(self) -> dict[str, Any]:
        signature = self.signature
        return {
            **self.body(),
            "signature": None
            if signature is None
            else {"algorithm": signature.algorithm, "mac": signature.mac},
        }


def sign(body: Mapping[str, Any], key: Secret, context: bytes = SIGNING_CONTEXT) -> Signature:
    """The HMAC of ``body`` under the audit key. ``context`` keeps each kind of signed
    manifest (a backup's, an inspection pack's) from passing for another."""
    return Signature(ALGORITHM, keyed_hash(key, context + canonical_json(body)))


def signature_problem(manifest: Manifest, key: Secret) -> str:
    """Why the manifest is not authenticated by ``key``, or ""."""
    signature = manifest.signature
    if signature is None:
        return (
            "the manifest is not signed although audit.checkpoint_key is configured: the "
            "backup cannot be authenticated (taken without the key, or its signature "
            "removed); refused"
        )
    if signature.algorithm != ALGORITHM:
        return f"the manifest's signature algorithm {signature.algorithm!r} is not {ALGORITHM}"
    expected = sign(manifest.body(), key).mac
    if not hmac.compare_digest(expected, signature.mac):
        return (
            "the manifest's signature does not match the audit key: the manifest was "
            "changed after the backup was taken, or signed with another key; refused"
        )
    return ""


def plain_name(name: str) -> bool:
    """A file name with no folder in it: what a backup's files are always called, so a
    manifest can never point the check at a file outside the backup."""
    return (
        bool(name)
        and name not in (".", "..")
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
    )


# -- reading ------------------------------------------------------------------------------
def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_text(text: str) -> Manifest:
    """The manifest in ``text``; raises :class:`ManifestError` naming what is wrong."""
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ManifestError(f"{MANIFEST}: nested too deeply to be a manifest") from None
    except ValueError as exc:
        raise ManifestError(f"{MANIFEST}: not JSON ({exc})") from None
    return parse(data)


def _show(value: Any) -> str:
    """A value for a message: whole when it is a path or a name, cut when it is a blob."""
    text = repr(value)
    return text if len(text) <= 300 else text[:297] + "..."


class _Field:
    """One value of the manifest and its key path, for messages like
    ``manifest.json: vault[2].sha256: must be 64 lowercase hex digits``."""

    def __init__(self, value: Any, path: str) -> None:
        self.value = value
        self.path = path

    def fail(self, why: str) -> ManifestError:
        return ManifestError(f"{MANIFEST}: {self.path or 'the top level'}: {why}")

    def mapping(self, keys: tuple[str, ...]) -> dict[str, _Field]:
        if not isinstance(self.value, dict):
            raise self.fail(f"must be an object, not {type(self.value).__name__}")
        missing = [k for k in keys if k not in self.value]
        if missing:
            raise self.fail(f"missing {', '.join(missing)}")
        prefix = f"{self.path}." if self.path else ""
        return {k: _Field(self.value[k], f"{prefix}{k}") for k in keys}

    def items(self) -> list[_Field]:
        if not isinstance(self.value, list):
            raise self.fail(f"must be a list, not {type(self.value).__name__}")
        return [_Field(v, f"{self.path}[{i}]") for i, v in enumerate(self.value)]

    def text(self) -> str:
        if not isinstance(self.value, str):
            raise self.fail(f"must be a string, not {_show(self.value)}")
        return self.value

    def optional_text(self) -> str | None:
        return None if self.value is None else self.text()

    def integer(self) -> int:
        # bool is an int to Python, never to a manifest.
        if isinstance(self.value, bool) or not isinstance(self.value, int) or self.value < 0:
            raise self.fail(f"must be a whole number >= 0, not {_show(self.value)}")
        return self.value

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.fail(f"must be true or false, not {_show(self.value)}")
        return self.value

    def sha256(self) -> str:
        value = self.text()
        if not SHA256.match(value):
            raise self.fail(f"must be 64 lowercase hex digits, not {_show(value)}")
        return value

    def file_name(self) -> str:
        value = self.text()
        if not plain_name(value):
            raise self.fail(
                f"{_show(value)} is not a plain file name (no '/', no '..', no absolute "
                "path): a backup's files are always in its own folder; refused"
            )
        return value


def parse(data: Any) -> Manifest:
    """A manifest from decoded JSON; raises :class:`ManifestError` naming the field."""
    top = _Field(data, "")
    fmt = top.mapping(("format",))["format"]
    if fmt.value != FORMAT or isinstance(fmt.value, bool):
        raise fmt.fail(
            f"{_show(fmt.value)} is not {FORMAT}: an older manifest is not signed and "
            "cannot be authenticated; take a new backup"
        )
    f = top.mapping(
        (
            "created_at",
            "reccontrol_version",
            "schema_version",
            "store",
            "tables",
            "access_log_head",
            "audio_copied",
            "vault",
            "signature",
        )
    )
    store = f["store"].mapping(("file", "sha256"))
    head = f["access_log_head"].mapping(("seq", "hash"))
    return Manifest(
        created_at=f["created_at"].text(),
        reccontrol_version=f["reccontrol_version"].text(),
        schema_version=f["schema_version"].integer(),
        store_file=store["file"].file_name(),
        store_sha256=store["sha256"].sha256(),
        tables=_tables(f["tables"]),
        access_log_head=(head["seq"].integer(), head["hash"].text()),
        audio_copied=f["audio_copied"].boolean(),
        vault=_vault(f["vault"]),
        signature=_signature(f["signature"]),
    )


def _tables(node: _Field) -> dict[str, TableDigest]:
    if not isinstance(node.value, dict):
        raise node.fail(f"must be an object, not {type(node.value).__name__}")
    tables = {}
    for name in sorted(node.value):
        fields = _Field(node.value[name], f"{node.path}.{name}").mapping(("rows", "sha256"))
        tables[name] = TableDigest(fields["rows"].integer(), fields["sha256"].sha256())
    return tables


def _entry_json(entry: VaultEntry) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": entry.name,
        "size": entry.size,
        "sha256": entry.sha256,
        "recording_id": entry.recording_id,
    }
    # Only for sealed files: a plaintext vault's manifest (and signature) is as before.
    if entry.audio_sha256 is not None:
        body["audio_sha256"] = entry.audio_sha256
    return body


def _vault(node: _Field) -> tuple[VaultEntry, ...]:
    entries: list[VaultEntry] = []
    seen: set[str] = set()
    for item in node.items():
        f = item.mapping(("name", "size", "sha256", "recording_id"))
        name = f["name"].file_name()
        if name in seen:
            raise f["name"].fail(f"{_show(name)} is listed twice")
        seen.add(name)
        audio = _Field(item.value.get("audio_sha256"), f"{item.path}.audio_sha256")
        entries.append(
            VaultEntry(
                name,
                f["size"].integer(),
                f["sha256"].sha256(),
                f["recording_id"].optional_text(),
                None if audio.value is None else audio.sha256(),
            )
        )
    return tuple(entries)


def _signature(node: _Field) -> Signature | None:
    if node.value is None:
        return None
    f = node.mapping(("algorithm", "mac"))
    return Signature(f["algorithm"].text(), f["mac"].text())
