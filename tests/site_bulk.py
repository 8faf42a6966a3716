"""Large sites in bulk, for measuring the chores on a year of a large centre (T4, S3, C5).

The store's own methods write one row per transaction, a few hundred rows a second: a
million recordings would take an hour. Here a *template* is written by the real methods
(:func:`tests.sites.add_recording`, :func:`tests.sites.add_call` and ``record_decision``),
so its rows are the ones the daemon writes; the others are copies of them, ids, names
and times moved, inserted set-based in large transactions:

- recordings: each copy gets its own call, its own real file in the vault (the same
  small WAV, so its hash is the template's; sealed with a data key of its own in a
  sealed vault, as the default site's) and its row, ``stored``;
- call metadata: rows generated inside SQLite (a recursive series), callers spread over
  a fixed set of numbers so a data subject has several calls.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from controller.audit.entries import EntryDraft
from controller.config import Config
from controller.privacy import caller_hash
from controller.recordings import LocalVault
from controller.recordings.keyring import wrap
from controller.recordings.sealing import KEY_ID_BYTES, seal
from controller.store import SqliteStore
from controller.store.access_log_batch import append_entries
from controller.store.records import Decision
from controller.store.timestamps import to_text
from tests.sites import add_call, add_recording, wav_bytes

CHUNK = 20_000
"""Rows per transaction when copying."""
CALL_CHUNK = 500_000
AGENTS = 20
CALLERS = 100_000
"""Distinct callers of the generated call metadata: 10M calls give 100 calls each."""


def subject_number(index: int) -> str:
    """The ``index``-th caller's number (``index`` below :data:`CALLERS`)."""
    return f"+336{index:08d}"


def _row(store: SqliteStore, table: str, key: str, value: str) -> dict[str, Any]:
    rows = list(store.db.query(f"SELECT * FROM {table} WHERE {key} = ?", [value]))  # noqa: S608
    assert rows, f"template {table} row {value} missing"
    return rows[0]


def _insert_many(store: SqliteStore, table: str, rows: Sequence[dict[str, Any]]) -> None:
    columns = list(rows[0])
    marks = ", ".join("?" for _ in columns)
    store.db.conn.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
        [[row[c] for c in columns] for row in rows],
    )


def _write_file(path: Path | str, data: bytes) -> None:
    # Three system calls a file: no fsync (a generated site is thrown away after), no
    # Python file object.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


class FileWriter:
    """Writes the copies' vault files: the template's audio as it is for a plaintext vault;
    for a sealed one (the default site's, S10) sealed with a data key of its own, wrapped
    by the site key into the keyring, the way :meth:`LocalVault.adopt` seals a file but
    without its syncs (each written once, by one process, then measured)."""

    def __init__(self, vault: LocalVault, audio: bytes) -> None:
        self._audio = audio
        self._keyring = vault.keyring
        self._site_key = vault.keyring.site_keys.load()[0] if vault.keyring else b""

    def write(self, path: Path) -> None:
        if self._keyring is None:
            _write_file(path, self._audio)
            return
        key_id, key = os.urandom(KEY_ID_BYTES), os.urandom(32)
        _write_file(self._keyring.path_of(key_id), wrap(self._site_key, key_id, key))
        sealed = io.BytesIO()
        seal(sealed, key, key_id, [self._audio])
        _write_file(path, sealed.getvalue())


def bulk_recordings(
    store: SqliteStore,
    vault: LocalVault,
    config: Config,
    *,
    count: int,
    newest: dt.datetime,
    service: str = "sales",
) -> int:
    """``count`` stored recordings, one call each, created a minute apart going back from
    ``newest``, each with its file in the vault (sealed when the vault seals). Returns how
    many were written."""
    if count < 1:
        return 0
    audio = wav_bytes()
    call_id, recording_id = add_recording(
        store, vault, config, service=service, created_at=newest, audio=audio
    )
    call = _row(store, "calls", "id", call_id)
    recording = _row(store, "recordings", "id", recording_id)
    days = config.services[service].retention_days
    files = FileWriter(vault, audio)
    for start in range(1, count, CHUNK):
        calls: list[dict[str, Any]] = []
        recordings: list[dict[str, Any]] = []
        for i in range(start, min(count, start + CHUNK)):
            created = newest - dt.timedelta(minutes=i)
            new_call, new_id = secrets.token_hex(8), secrets.token_hex(8)
            name = secrets.token_hex(20)
            path = vault.vault_dir / f"{name}.{recording['format']}"
            files.write(path)
            calls.append(
                {
                    **call,
                    "id": new_call,
                    "started_at": to_text(created),
                    "ended_at": to_text(created + dt.timedelta(minutes=3)),
                }
            )
            recordings.append(
                {
                    **recording,
                    "id": new_id,
                    "call_id": new_call,
                    "name": name,
                    "path": str(path),
                    "created_at": to_text(created),
                    "expires_at": to_text(created + dt.timedelta(days=days)),
                    "ended_at": to_text(created + dt.timedelta(minutes=3)),
                }
            )
        with store.transaction():
            _insert_many(store, "calls", calls)
            _insert_many(store, "recordings", recordings)
    return count


def _copy_calls(columns: Sequence[str]) -> str:
    """The calls of the series ``g``: the template's values (parameters) in ``columns``."""
    names, marks = ", ".join(columns), ", ".join("?" for _ in columns)
    return (
        f"INSERT INTO calls (id, service, started_at, ended_at, agent_id, caller_hash, {names}) "  # noqa: S608
        f"SELECT g.id, CASE g.i % 2 WHEN 0 THEN ? ELSE ? END, g.at, g.at, g.agent, c.h, {marks} "
        "FROM g JOIN bulk_callers c ON c.k = g.i % ?"
    )


def _copy_decisions(columns: Sequence[str]) -> str:
    names, marks = ", ".join(columns), ", ".join("?" for _ in columns)
    return (
        f"INSERT INTO decisions (call_id, decided_at, agent_id, {names}) "  # noqa: S608
        f"SELECT g.id, g.at, g.agent, {marks} FROM g"
    )


def caller_hashes(config: Config, count: int) -> Iterator[str]:
    """The caller HMACs of :func:`subject_number` 0 to ``count`` - 1."""
    key = config.privacy.caller_hmac_key
    for index in range(count):
        hashed = caller_hash(key, subject_number(index))
        assert hashed is not None, "a subject number is a number"
        yield hashed


def bulk_calls(
    store: SqliteStore, config: Config, *, count: int, newest: dt.datetime, spread_days: int = 29
) -> int:
    """``count`` ended calls with their decision, spread evenly over ``spread_days`` days
    before ``newest`` (younger than any retention), agents and services in turn, callers
    :func:`subject_number` (0 to :data:`CALLERS` - 1) in turn. Generated by SQLite itself.
    Returns how many were written."""
    if count < 1:
        return 0
    callers = min(CALLERS, count)
    template = add_call(store, config, service="sales", started_at=newest)
    store.record_decision(
        Decision(template, newest, True, "sampled", 0.5, 0.1, True, "-", "agent00")
    )
    call = _row(store, "calls", "id", template)
    decision = _row(store, "decisions", "call_id", template)
    with store.transaction() as db:
        db.execute("CREATE TEMP TABLE IF NOT EXISTS bulk_callers (k INTEGER PRIMARY KEY, h TEXT)")
        db.execute("DELETE FROM bulk_callers")
        db.conn.executemany(
            "INSERT INTO bulk_callers (k, h) VALUES (?, ?)",
            enumerate(caller_hashes(config, callers)),
        )
    step_ms = max(1, int(spread_days * 86_400_000 / count))
    epoch_ms = int(newest.timestamp() * 1000)
    prefix = secrets.token_hex(4)
    services = sorted(config.services)
    call_columns = [c for c in call if c not in ("id", "service", "started_at", "ended_at",
                                                  "agent_id", "caller_hash")]
    decision_columns = [c for c in decision if c not in ("call_id", "decided_at", "agent_id")]
    with indexes_set_aside(store, ("calls", "decisions")):
        _generate_calls(store, count, callers, call, decision, call_columns, decision_columns,
                        series_head=(prefix, epoch_ms, step_ms), services=services)
    return count


@contextlib.contextmanager
def indexes_set_aside(store: SqliteStore, tables: Sequence[str]) -> Iterator[None]:
    """Drops the indexes of ``tables`` and creates them again afterwards: SQLite builds
    an index over sorted rows in one pass, many times faster than keeping it up to date
    row by row (a random caller HMAC per call touches a random page of its index)."""
    marks = ", ".join("?" for _ in tables)
    found = [
        (str(name), str(sql))
        for name, sql in store.db.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' "  # noqa: S608
            f"AND tbl_name IN ({marks}) AND sql IS NOT NULL",
            list(tables),
        ).fetchall()
    ]
    for name, _ in found:
        store.db.execute(f"DROP INDEX {name}")
    try:
        yield
    finally:
        with store.transaction() as db:
            for _, sql in found:
                db.execute(sql)


def _generate_calls(
    store: SqliteStore,
    count: int,
    callers: int,
    call: dict[str, Any],
    decision: dict[str, Any],
    call_columns: Sequence[str],
    decision_columns: Sequence[str],
    *,
    series_head: tuple[str, int, int],
    services: Sequence[str],
) -> None:
    prefix, epoch_ms, step_ms = series_head
    for start in range(1, count, CALL_CHUNK):
        end = min(count, start + CALL_CHUNK)
        series = (
            "WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?), "
            "g AS (SELECT i, ? || printf('%012x', i) AS id, "
            "strftime('%Y-%m-%dT%H:%M:%f', (? - i * ?) / 1000.0, 'unixepoch') || '+00:00' AS at, "
            "printf('agent%02d', i % ?) AS agent FROM n) "
        )
        series_params = [start, end, prefix, epoch_ms, step_ms, AGENTS]
        with store.transaction() as db:
            db.execute(
                series + _copy_calls(call_columns),
                [
                    *series_params,
                    services[0],
                    services[-1],
                    *(call[c] for c in call_columns),
                    callers,
                ],
            )
            db.execute(
                series + _copy_decisions(decision_columns),
                [*series_params, *(decision[c] for c in decision_columns)],
            )


def bulk_log_entries(store: SqliteStore, *, count: int, newest: dt.datetime) -> int:
    """``count`` access-log entries (a supervisor listening to recordings, for quality),
    a second apart going back from ``newest`` and appended oldest first, sealed and
    chained as the store appends any entry (keyed when the store is). Returns how many
    were written."""
    oldest = newest - dt.timedelta(seconds=count)
    for start in range(0, count, CHUNK):
        drafts = []
        for i in range(start, min(count, start + CHUNK)):
            recording_id = secrets.token_hex(8)
            drafts.append(
                EntryDraft(
                    at=to_text(oldest + dt.timedelta(seconds=i)),
                    actor="mleroy",
                    role="supervisor",
                    action="listen",
                    target=f"recording:{recording_id}",
                    purpose="quality review",
                    result="ok",
                    details={"recording_id": recording_id, "range": "bytes=0-"},
                )
            )
        with store.transaction() as db:
            append_entries(db, drafts, store.audit_key)
    return count
