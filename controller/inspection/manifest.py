"""An inspection pack's manifest: every file with its size and SHA-256, signed with the
audit key the way a backup's manifest is (D3). Pure code: no I/O.

Nothing in a manifest is trusted before it is checked: a malformed one is a
:class:`PackManifestError` naming the field, file names are plain names (the files are
always looked for in the pack's own folder).
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.secrets import Secret
from controller.store.backup_manifest import ALGORITHM, Signature, plain_name, sign

MANIFEST = "manifest.json"
KIND = "reccontrol inspection pack"
FORMAT = 1
# A MAC of a pack's manifest can never pass for a backup manifest's, an access-log
# entry's or a witness line's signed with the same key.
SIGNING_CONTEXT = b"reccontrol inspection pack manifest\n"
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class PackManifestError(Exception):
    """A manifest that is not one; the message names the field."""

    error_id = "inspection-manifest-malformed"


@dataclass(frozen=True)
class PackFile:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class PackManifest:
    created_at: str
    period_from: str
    period_to: str
    reccontrol_version: str
    files: tuple[PackFile, ...]
    signature: Signature | None

    def body(self) -> dict[str, Any]:
        """Everything the signature covers."""
        return {
            "kind": KIND,
            "format": FORMAT,
            "created_at": self.created_at,
            "period": {"from": self.period_from, "to": self.period_to},
            "reccontrol_version": self.reccontrol_version,
            "files": [{"name": f.name, "size": f.size, "sha256": f.sha256} for f in self.files],
        }

    def to_json(self) -> dict[str, Any]:
        signature = self.signature
        return {
            **self.body(),
            "signature": None
            if signature is None
            else {"algorithm": signature.algorithm, "mac": signature.mac},
        }


def signed(manifest: PackManifest, key: Secret | None) -> PackManifest:
    """The manifest with its signature (none without a key)."""
    signature = sign(manifest.body(), key, SIGNING_CONTEXT) if key is not None else None
    return PackManifest(
        manifest.created_at,
        manifest.period_from,
        manifest.period_to,
        manifest.reccontrol_version,
        manifest.files,
        signature,
    )


def signature_problem(manifest: PackManifest, key: Secret) -> str:
    """Why ``key`` does not authenticate the manifest, or ""."""
    signature = manifest.signature
    if signature is None:
        return (
            "the manifest is not signed although audit.checkpoint_key is configured: the "
            "pack cannot be authenticated"
        )
    if signature.algorithm != ALGORITHM:
        return f"the manifest's signature algorithm {signature.algorithm!r} is not {ALGORITHM}"
    expected = sign(manifest.body(), key, SIGNING_CONTEXT).mac
    if not hmac.compare_digest(expected, signature.mac):
        return (
            "the manifest's signature does not match the audit key: the manifest was changed "
            "after the pack was made, or signed with another key"
        )
    return ""


def file_problems(manifest: PackManifest, present: Mapping[str, tuple[int, str]]) -> list[str]:
    """What differs between the manifest and the files found (name -> size, SHA-256),
    one line per file: missing, changed, or not listed."""
    problems: list[str] = []
    listed = {f.name for f in manifest.files}
    for entry in manifest.files:
        found = present.get(entry.name)
        if found is None:
            problems.append(f"{entry.name}: missing")
        elif found != (entry.size, entry.sha256):
            problems.append(
                f"{entry.name}: changed (SHA-256 {found[1]}, the manifest says {entry.sha256})"
            )
    problems += [
        f"{name}: not in the manifest (added after the pack was made)"
        for name in sorted(present)
        if name not in listed and name != MANIFEST
    ]
    return problems


# -- reading ------------------------------------------------------------------------------
def _fail(path: str, why: str) -> PackManifestError:
    return PackManifestError(f"{MANIFEST}: {path}: {why}")


def _text(data: Mapping[str, Any], key: str, path: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise _fail(f"{path}{key}", "must be a string")
    return value


def _object(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, f"must be an object, not {type(value).__name__}")
    return value


def parse_text(text: str) -> PackManifest:
    """The manifest in ``text``; raises :class:`PackManifestError` naming what is wrong."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise PackManifestError(f"{MANIFEST}: not JSON ({exc})") from None
    top = _object(data, "the top level")
    if top.get("kind") != KIND or top.get("format") != FORMAT:
        raise _fail("kind", f"this is not a {KIND} manifest of format {FORMAT}")
    period = _object(top.get("period"), "period")
    files: list[PackFile] = []
    raw_files = top.get("files")
    if not isinstance(raw_files, list):
        raise _fail("files", "must be a list")
    seen: set[str] = set()
    for index, raw in enumerate(raw_files):
        path = f"files[{index}]."
        item = _object(raw, f"files[{index}]")
        name = _text(item, "name", path)
        if not plain_name(name) or name == MANIFEST:
            raise _fail(f"{path}name", f"{name!r} is not a plain file name of the pack")
        if name in seen:
            raise _fail(f"{path}name", f"{name!r} is listed twice")
        seen.add(name)
        size = item.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise _fail(f"{path}size", "must be a whole number >= 0")
        digest = _text(item, "sha256", path)
        if not SHA256.match(digest):
            raise _fail(f"{path}sha256", "must be 64 lowercase hex digits")
        files.append(PackFile(name, size, digest))
    raw_signature = top.get("signature")
    signature = None
    if raw_signature is not None:
        fields = _object(raw_signature, "signature")
        signature = Signature(
            _text(fields, "algorithm", "signature."), _text(fields, "mac", "signature.")
        )
    return PackManifest(
        created_at=_text(top, "created_at", ""),
        period_from=_text(period, "from", "period."),
        period_to=_text(period, "to", "period."),
        reccontrol_version=_text(top, "reccontrol_version", ""),
        files=tuple(files),
        signature=signature,
    )
