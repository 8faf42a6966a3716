"""The audited door for live listening (S8): who may listen to a call in progress, and
that every refusal is in the access log with its reason and a stable ``error_id``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.access.service import AccessRefused
from controller.config import Config
from controller.config.governance_model import Person
from controller.recordings import LocalVault
from controller.store import SqliteStore
from tests.sites import load_site, open_site, write_site
from tests.unit.test_access import last, service_for

PURPOSE = "coaching a new agent"
PHONE = "PJSIP/sup-mleroy"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Config, SqliteStore, LocalVault]]:
    config = load_site(write_site(tmp_path))
    store, vault = open_site(config)
    yield config, store, vault
    store.close()


def person(config: Config, pid: str, phone: str | None = PHONE) -> Person:
    return dataclasses.replace(config.access.persons[pid], phone=phone)


def test_s8_a_supervisor_in_scope_may_listen_and_it_is_logged(
    site: tuple[Config, SqliteStore, LocalVault],
) -> None:
    config, store, vault = site
    door = service_for(config, store, vault)
    assert door.live_listen(person(config, "mleroy"), PURPOSE, "c0ffee", "sales", None) == PHONE
    assert last(store) == ("mleroy", "live_listen", "ok", PURPOSE, {})


@pytest.mark.parametrize(
    ("pid", "service", "refusal", "phone", "error_id", "reason"),
    [
        ("snguyen", "sales", None, PHONE, "forbidden", "role quality may not live_listen"),
        ("cdubois", "sales", None, PHONE, "forbidden", "role dpo may not live_listen"),
        (
            "rlambert",
            "sales",
            None,
            PHONE,
            "not-found",
            "service sales is outside the person's scope",
        ),
        ("mleroy", None, None, PHONE, "not-found", "no such call in progress"),
        ("mleroy", "sales", "protected_agent", PHONE, "listen-refused", "protected_agent"),
        ("mleroy", "sales", "caller_objected", PHONE, "listen-refused", "caller_objected"),
        ("mleroy", "sales", "private", PHONE, "listen-refused", "private"),
        ("mleroy", "sales", "paused", PHONE, "listen-refused", "paused"),
        (
            "mleroy",
            "sales",
            None,
            None,
            "listen-refused",
            "no phone is configured for mleroy (access.persons.mleroy.phone)",
        ),
    ],
    ids=[
        "quality",
        "dpo",
        "out-of-scope",
        "no-call",
        "protected",
        "objection",
        "private",
        "paused",
        "no-phone",
    ],
)
def test_s8_each_refusal_is_logged_with_its_reason(
    site: tuple[Config, SqliteStore, LocalVault],
    pid: str,
    service: str | None,
    refusal: str | None,
    phone: str | None,
    error_id: str,
    reason: str,
) -> None:
    """S8, S2: not a supervisor, out of scope (answered as a call that does not exist),
    a call that could not be recorded now, no phone: refused, and logged as refused."""
    config, store, vault = site
    door = service_for(config, store, vault)
    with pytest.raises(AccessRefused) as refused:
        door.live_listen(person(config, pid, phone), PURPOSE, "c0ffee", service, refusal)
    assert refused.value.error_id == error_id
    assert last(store) == (pid, "live_listen", "refused", PURPOSE, {"reason": reason})


def test_s8_a_purpose_is_required(site: tuple[Config, SqliteStore, LocalVault]) -> None:
    config, store, vault = site
    door = service_for(config, store, vault)
    with pytest.raises(AccessRefused):
        door.live_listen(person(config, "mleroy"), " ", "c0ffee", "sales", None)
    assert last(store)[1:3] == ("live_listen", "refused")


def test_s8_ending_a_listening_is_logged(site: tuple[Config, SqliteStore, LocalVault]) -> None:
    config, store, vault = site
    door = service_for(config, store, vault)
    stop = "end of a live listening"
    door.live_listen_stop(person(config, "mleroy"), stop, "c0ffee", "sales", None)
    assert last(store)[:3] == ("mleroy", "live_listen_stop", "ok")
    with pytest.raises(AccessRefused):
        door.live_listen_stop(person(config, "mleroy"), stop, "c0ffee", "sales", "nobody listens")
    assert last(store)[2:] == ("refused", stop, {"reason": "nobody listens"})
