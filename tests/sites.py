"""A reccontrol site on disk for retention, access and CLI tests: a config file, a store
and a vault filled through the real store and vault methods, with real WAV files.

Also a command, to build a large site for measuring the chores (in bulk, see
:mod:`tests.site_bulk`)::

    python -m tests.sites DIR --expired 10000 --kept 1000 [--calls 1000000] [--plaintext]
    RECCONTROL_ARI_PASSWORD=x RECCONTROL_HMAC_KEY=... RECCONTROL_AUDIT_KEY=... \\
        python -m controller purge -c DIR/reccontrol.yaml
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import secrets
import wave
from pathlib import Path
from typing import Any

import yaml

from controller.access.credentials import hash_password, hash_token
from controller.audit.chain import EntryDraft
from controller.config import Config, load_config
from controller.config.encryption import site_vault
from controller.privacy import caller_hash
from controller.recordings import LocalVault
from controller.store import SqliteStore
from controller.store.opening import open_configured
from controller.store.records import CallStart
from controller.store.timestamps import to_text
from tests.integration.conftest import free_port

ENV = {
    "RECCONTROL_ARI_PASSWORD": "ari-password",
    "RECCONTROL_HMAC_KEY": "hmac-key-0123456789abcdef",
    "RECCONTROL_AUDIT_KEY": "audit-key-0123456789abcdef",
}
PASSWORD = "correct horse battery staple"
# Persons of the test site: id -> (role, services). Each gets a token and a password.
PERSONS: dict[str, tuple[str, list[str]]] = {
    "cdubois": ("dpo", ["*"]),
    "mleroy": ("supervisor", ["sales"]),
    "snguyen": ("quality", ["sales"]),
    "rlambert": ("supervisor", ["support"]),
    "tadmin": ("admin", ["*"]),
}


# The free ports a site's config names, chosen once per site folder: the same folder
# gives the same config, so a test that loads it again sees the same text (D3).
_SITE_PORTS: dict[Path, tuple[int, int]] = {}


def site_ports(root: Path) -> tuple[int, int]:
    """The ARI and web ports of the site in ``root``: free when first asked for."""
    key = root.absolute()
    if key not in _SITE_PORTS:
        _SITE_PORTS[key] = (free_port(), free_port())
    return _SITE_PORTS[key]


def site_config(root: Path) -> dict[str, Any]:
    ari_port, web_port = site_ports(root)
    return {
        "organisation": {
            "name": "ACME Test",
            "address": "1 rue du Test, 75001 Paris",
            "dpo": {"name": "Claire Dubois", "email": "dpo@acme.example"},
        },
        # Free ports, never the defaults (8088, 8090): a test that starts the daemon must
        # not meet whatever else runs on this machine, nor the other test workers.
        "ari": {
            "url": f"http://127.0.0.1:{ari_port}",
            "username": "reccontrol",
            "password_env": "RECCONTROL_ARI_PASSWORD",
        },
        "web": {"host": "127.0.0.1", "port": web_port},
        "store": {"path": str(root / "store.sqlite3")},
        "recordings": {"asterisk_dir": str(root / "asterisk"), "vault_dir": str(root / "vault")},
        "privacy": {"caller_hmac_key_env": "RECCONTROL_HMAC_KEY"},
        # A8: the staff representatives were informed before any test call.
        "legal": {"staff_representatives_informed": "2025-01-06"},
        "agents": {
            "alice": {
                "name": "Alice Martin",
                "endpoints": ["PJSIP/alice"],
                "windows": [{"days": "mon-fri", "from": "09:00", "to": "17:00"}],
            }
        },
        "services": {
            name: {
                "language": "fr",
                "purposes": ["quality"],
                "announcement": {"sound": "reccontrol/fr/announce", "version": "v1"},
                "full_notice": "reccontrol/fr/notice",
                "sampling": {"rate": 0.5},
                "target": "PJSIP/alice",
                "retention_days": days,
            }
            for name, days in (("sales", 90), ("support", 30))
        },
        "access": {
            "persons": {
                pid: {
                    "name": pid.capitalize(),
                    "role": role,
                    "services": services,
                    "token_hash_file": str(root / "access" / f"{pid}.token-hash"),
                }
                for pid, (role, services) in PERSONS.items()
            }
        },
        "audit": {"checkpoint_key_env": "RECCONTROL_AUDIT_KEY"},
        "sheets": {
            "criteria": [
                {"id": "greeting", "label": "Accueil", "max_score": 5},
                {"id": "answer", "label": "Réponse", "max_score": 10},
            ]
        },
    }


def write_site(
    root: Path, data: dict[str, Any] | None = None, *, store: dict[str, Any] | None = None
) -> Path:
    """Writes the config and the persons' credentials; returns the config path. With
    ``store``, the config's ``store`` section is that one (the ``site_store`` fixture:
    the site on each backend).

    Each person gets a token file (``access/<id>.token``) whose hash the config names,
    and a password hash (``access/<id>.scrypt``) for tests that switch to passwords.
    """
    (root / "access").mkdir(parents=True, exist_ok=True)
    for pid in PERSONS:
        token_path = root / "access" / f"{pid}.token"
        if not token_path.exists():
            token = secrets.token_urlsafe(32)
            token_path.write_text(token + "\n")
            (root / "access" / f"{pid}.token-hash").write_text(hash_token(token) + "\n")
            (root / "access" / f"{pid}.scrypt").write_text(hash_password(PASSWORD, log2_n=14))
    path = root / "reccontrol.yaml"
    config = data if data is not None else site_config(root)
    if store is not None:
        config = {**config, "store": store}
    path.write_text(yaml.safe_dump(config))
    return path


def load_site(path: Path) -> Config:
    return load_config(path, environ=ENV)


def wav_bytes(seconds: float = 0.05, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(os.urandom(int(seconds * rate) * 2))
    return out.getvalue()


def add_call(
    store: SqliteStore,
    config: Config,
    *,
    service: str,
    started_at: dt.datetime,
    number: str | None = "+33612345678",
    agent_id: str = "alice",
) -> str:
    call_id = secrets.token_hex(8)
    hashed = caller_hash(config.privacy.caller_hmac_key, number) if number else None
    store.begin_call(CallStart(call_id, service, "inbound", started_at, hashed), "v1")
    store.end_call(call_id, started_at + dt.timedelta(minutes=3), "completed", agent_id, True)
    return call_id


def add_recording(
    store: SqliteStore,
    vault: LocalVault,
    config: Config,
    *,
    service: str,
    created_at: dt.datetime,
    number: str | None = "+33612345678",
    call_id: str | None = None,
    audio: bytes | None = None,
    segment: int = 1,
    agent_id: str | None = None,
) -> tuple[str, str]:
    """A finished recording the way the call flow makes one: row first, then the file
    from Asterisk's folder adopted into the vault. Returns (call id, recording id).
    ``segment`` and ``agent_id``: the part of a transferred call it holds, and whose
    agent (R3)."""
    if call_id is None:
        call_id = add_call(store, config, service=service, started_at=created_at, number=number)
    recording_id = secrets.token_hex(8)
    name = secrets.token_hex(20)
    store.open_recording(
        recording_id,
        call_id,
        name,
        "wav",
        ("quality",),
        created_at,
        config.services[service].retention_days,
        segment=segment,
        agent_id=agent_id,
    )
    incoming = vault.incoming_path(name, "wav")
    incoming.write_bytes(audio if audio is not None else wav_bytes())
    adopted = vault.adopt(name, "wav")
    store.finish_recording(
        recording_id,
        str(adopted.path),
        adopted.duration_seconds,
        adopted.sha256,
        created_at + dt.timedelta(minutes=3),
    )
    return call_id, recording_id


def open_site(config: Config, *, sealed: bool = False) -> tuple[SqliteStore, LocalVault]:
    """The site's store and vault; ``sealed``: the vault the configuration describes, as
    the daemon opens it (S10: sealed by default, its site key made on first use)."""
    store = open_configured(config.store, audit_key=config.audit.checkpoint_key)
    if sealed:
        vault = site_vault(config.recordings, create_key=True).vault
    else:
        vault = LocalVault(config.recordings.asterisk_dir, config.recordings.vault_dir)
    config.recordings.asterisk_dir.mkdir(parents=True, exist_ok=True)
    vault.prepare()
    return store, vault


def old_log_entry(store: SqliteStore, at: dt.datetime, n: int) -> None:
    store.append_access(
        EntryDraft(
            at=to_text(at),
            actor="cdubois",
            role="dpo",
            action="listen",
            target=f"recording:old{n}",
            purpose="quality review",
            result="ok",
        )
    )


def main() -> None:
    from tests.site_bulk import bulk_calls, bulk_recordings

    parser = argparse.ArgumentParser(description="Build a large test site for the chores.")
    parser.add_argument("root", type=Path)
    parser.add_argument("--expired", type=int, default=10000)
    parser.add_argument("--kept", type=int, default=1000)
    parser.add_argument(
        "--calls", type=int, default=0, help="call metadata (with decisions) of the last month"
    )
    parser.add_argument(
        "--plaintext", action="store_true", help="files not sealed (the default site seals)"
    )
    args = parser.parse_args()
    args.root.mkdir(parents=True, exist_ok=True)
    config = load_site(write_site(args.root))
    store, vault = open_site(config, sealed=not args.plaintext)
    now = dt.datetime.now(dt.UTC)
    bulk_recordings(
        store, vault, config, count=args.expired, newest=now - dt.timedelta(days=100)
    )
    bulk_recordings(store, vault, config, count=args.kept, newest=now - dt.timedelta(days=10))
    bulk_calls(store, config, count=args.calls, newest=now)
    store.close()
    print(
        f"{args.root / 'reccontrol.yaml'}: {args.expired} expired, {args.kept} kept, "
        f"{args.calls} calls, {'plaintext' if args.plaintext else 'sealed'}"
    )


if __name__ == "__main__":
    main()
