"""The store on PostgreSQL (N1): its configuration, how it is opened, and the SQLite SQL
as PostgreSQL reads it. The domain methods themselves are proven on both backends by
the store tests (the ``backend`` fixture)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.config import ConfigError, load_config
from controller.secrets import Secret
from controller.store import SqliteStore, StoreError
from controller.store.opening import open_configured
from controller.store.postgresql_dialect import to_postgresql
from controller.store.postgresql_store import PostgresStore
from controller.store.records import CallStart, ConsentEvent
from tests.postgresql import PostgresServer
from tests.sites import ENV, site_config

URL = "postgresql://reccontrol@db.example:5432/reccontrol"


def write(root: Path, store: dict[str, Any]) -> Path:
    data = site_config(root)
    data["store"] = store
    path = root / "reccontrol.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def problems(root: Path, store: dict[str, Any], env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(write(root, store), environ={**ENV, **(env or {})})
    return [str(p) for p in caught.value.problems]


def test_n1_s5_postgresql_url_with_password_from_the_environment(tmp_path: Path) -> None:
    """N1, S5: ``store.url`` names the server, the password comes from ``password_env``,
    and the node's name is kept."""
    store = {"url": URL, "password_env": "PG_PASSWORD", "node": "node-a"}
    config = load_config(write(tmp_path, store), environ={**ENV, "PG_PASSWORD": "s3cret-pg"})
    assert config.store.url == URL
    assert config.store.password is not None and config.store.password.reveal() == "s3cret-pg"
    assert config.store.node == "node-a"
    # One daemon per node: its lock files sit beside its own vault, not a store file.
    assert config.lock_anchor == config.recordings.vault_dir
    sqlite = load_config(write(tmp_path, {"path": str(tmp_path / "s.sqlite3")}), environ=ENV)
    assert (sqlite.store.url, sqlite.store.node) == (None, "local")
    assert sqlite.lock_anchor == tmp_path / "s.sqlite3"


@pytest.mark.parametrize(
    ("store", "expected"),
    [
        ({"url": URL, "password": "x", "node": "a"}, "store.password: secrets are not written"),
        ({"url": URL}, "store.node: is required with a PostgreSQL store"),
        ({"url": "mysql://db/x", "node": "a"}, "store.url: must be a postgresql:// URL"),
        ({"url": "postgresql://db.example", "node": "a"}, "store.url: must be a postgresql://"),
        ({"url": "postgresql://u:pw@db/x", "node": "a"}, "store.url: must not carry the password"),
        ({"url": URL, "path": "/x.sqlite3", "node": "a"}, "store.url: give either 'path'"),
        ({"node": "a"}, "store.path: is required (a SQLite file), unless 'url'"),
        ({"url": URL, "node": "a b"}, "store.node: must be a node name"),
        ({"path": "/x.sqlite3", "password_env": "P"}, "store.password_env: only a PostgreSQL"),
        ({"url": URL, "node": "a", "password_env": "UNSET_PG"}, "store.password_env: environment"),
    ],
)
def test_n1_store_errors_name_the_key(tmp_path: Path, store: dict[str, Any], expected: str) -> None:
    """N1: each mistake in ``store`` is reported on its key path, never with a password."""
    found = problems(tmp_path, store)
    assert any(p.startswith(expected) for p in found), found
    assert not any("pw@" in p for p in found)


def test_n1_unreachable_server_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    """N1: a server that does not answer is a StoreError naming it, not a traceback."""
    config = load_config(
        write(tmp_path, {"url": "postgresql://u@127.0.0.1:1/x", "node": "a", "password_env": "P"}),
        environ={**ENV, "P": "hunter2-password"},
    )
    with pytest.raises(StoreError, match=r"cannot reach the PostgreSQL store at post") as e:
        open_configured(config.store)
    assert "hunter2" not in str(e.value)


def test_n1_configured_store_opens_on_postgresql(
    postgres: PostgresServer, postgres_url: str
) -> None:
    """N1: the configured URL and password open a migrated store on the server."""
    from controller.config.model import StoreSettings

    settings = StoreSettings(Path(), url=postgres_url, password=Secret(postgres.password), node="a")
    store = open_configured(settings)
    assert isinstance(store, PostgresStore) and store.schema_version() > 0
    assert store.integrity_check() == "ok"
    store.close()


def test_n1_the_append_only_rules_hold_on_both_backends(fresh_db: SqliteStore) -> None:
    """S3, N1: on both backends an access-log entry cannot be edited, and a CHECK
    refuses what it refuses on SQLite, as the same sqlite3 error class."""
    import datetime as dt

    from controller.audit.chain import EntryDraft

    fresh_db.append_access(
        EntryDraft(
            at="2026-12-02T09:00:00.000000Z", actor="a", role="dpo", action="listen",
            target="recording:x", purpose="p", result="ok", details={},
        )
    )
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        fresh_db.db.execute("UPDATE access_log SET actor = 'b'")
    now = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
    fresh_db.begin_call(CallStart("c1", "sales", "inbound", now, None, "chan"), "v1")
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        fresh_db.add_consent_event(ConsentEvent("c1", now, "agreed", "1", "v1", "conversation"))


def test_n1_sqlite_sql_as_postgresql_reads_it() -> None:
    """N1: the rewrite of the store's SQL, in one place; quoted text is never touched."""
    assert to_postgresql("SELECT a FROM t WHERE b = ? AND c LIKE 'x%?'") == (
        "SELECT a FROM t WHERE b = %s AND c LIKE 'x%%?'"
    )
    assert to_postgresql("INSERT OR IGNORE INTO t (a) VALUES (?)") == (
        "INSERT INTO t (a) VALUES (%s) ON CONFLICT DO NOTHING"
    )
    assert to_postgresql("SELECT max(coalesce(a, 1), min(b, c)), max(d) FROM t") == (
        "SELECT GREATEST(coalesce(a, 1), LEAST(b, c)), max(d) FROM t"
    )
    assert to_postgresql("SELECT group_concat(r.id) FROM r WHERE window = 'window'") == (
        "SELECT string_agg((r.id)::text, ',') FROM r WHERE \"window\" = 'window'"
    )
    assert to_postgresql("SELECT x FROM t WHERE id IN (SELECT value FROM json_each(?))") == (
        "SELECT x FROM t WHERE id IN (SELECT value FROM json_array_elements_text(CAST(%s AS json)))"
    )
    created = to_postgresql(
        "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, x REAL, k BLOB, n INTEGER)"
    )
    assert created.startswith("CREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY")
    assert "x DOUBLE PRECISION, k BYTEA, n BIGINT" in created and "rowid BIGINT" in created
    assert to_postgresql("ALTER TABLE t ADD COLUMN w REAL") == (
        "ALTER TABLE t ADD COLUMN w DOUBLE PRECISION"
    )


def test_n1_backup_of_a_postgresql_store_is_refused_clearly(tmp_path: Path) -> None:
    """N1: ``reccontrol backup`` copies a SQLite store; on a PostgreSQL store it says so
    and points at pg_dump, with no traceback and nothing written."""
    from click.testing import CliRunner

    from controller.cli import cli

    path = write(tmp_path, {"url": URL, "node": "a", "password_env": "P"})
    result = CliRunner().invoke(
        cli, ["backup", "-c", str(path), "--to", str(tmp_path / "copy")], env={**ENV, "P": "x"}
    )
    assert result.exit_code == 1, result.output
    assert "store.url: reccontrol backup copies a SQLite store" in result.output
    assert "pg_dump" in result.output and not (tmp_path / "copy").exists()


def test_n1_r2_a_dropped_connection_is_opened_again(
    postgres: PostgresServer, postgres_url: str
) -> None:
    """N1, R2: the server dropping the store's connection (a restart, a fail-over) costs
    no call: the next write reconnects and lands, and a transaction cut midway keeps
    nothing of itself."""
    import datetime as dt

    store = PostgresStore.connect(postgres_url, password=Secret(postgres.password), node="a")
    now = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)

    def drop_connections() -> None:
        with postgres.admin() as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                [postgres_url.rsplit("/", 1)[1]],
            )

    drop_connections()
    store.begin_call(CallStart("c1", "sales", "inbound", now, None, "chan-1"), "v1")
    assert [c.call_id for c in store.open_calls()] == ["c1"]

    with pytest.raises(sqlite3.OperationalError), store.transaction() as db:
        db.execute("UPDATE calls SET agent_id = 'alice' WHERE id = 'c1'")
        drop_connections()
        db.execute("UPDATE calls SET outcome = 'x' WHERE id = 'c1'")
    (row,) = store.db.query("SELECT agent_id, outcome FROM calls WHERE id = 'c1'")
    assert row == {"agent_id": None, "outcome": None}
    store.close()


def test_n1_s3_audit_verify_is_identical_on_both_backends(
    tmp_path: Path, postgres: PostgresServer, postgres_url: str
) -> None:
    """N1, S3: the same keyed entries and the same cut behind a checkpoint give the same
    head, checkpoints and verdict on SQLite and on PostgreSQL; the same edit made behind
    the append-only rule's back is caught the same way on both."""
    import datetime as dt

    from controller.audit.chain import EntryDraft

    key = Secret("audit-key-0123456789abcdef")
    stores: list[SqliteStore] = [
        SqliteStore.open(tmp_path / "s.sqlite3", audit_key=key),
        PostgresStore.connect(postgres_url, password=Secret(postgres.password), audit_key=key),
    ]
    now = dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.UTC)
    for store in stores:
        for n in range(6):
            store.append_access(
                EntryDraft(
                    at=f"2026-01-0{n + 1}T09:00:00.000000Z",
                    actor="cdubois",
                    role="dpo",
                    action="listen",
                    target=f"recording:r{n}",
                    purpose="mediation request",
                    result="ok",
                    details={"n": n, "range": [0, 4096]},
                )
            )
        assert store.cut_access_log(dt.datetime(2026, 1, 4, tzinfo=dt.UTC), now, key, "T3")
    sqlite, postgresql = stores
    assert sqlite.audit_head() == postgresql.audit_head()
    assert sqlite.checkpoints() == postgresql.checkpoints()
    assert list(sqlite.access_entries()) == list(postgresql.access_entries())
    verdicts = [s.verify_access_log(key) for s in stores]
    assert verdicts[0] == verdicts[1] and verdicts[0].ok, verdicts

    sqlite.db.execute("DROP TRIGGER access_log_no_update")
    postgresql.db.execute("ALTER TABLE access_log DISABLE TRIGGER access_log_no_update")
    for store in stores:
        store.db.execute("UPDATE access_log SET purpose = 'curiosity' WHERE seq = 5")
    verdicts = [s.verify_access_log(key) for s in stores]
    assert verdicts[0] == verdicts[1] and not verdicts[0].ok, verdicts
    assert verdicts[0].first_bad == 5
    for store in stores:
        store.close()
