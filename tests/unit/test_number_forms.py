"""One caller number written in several forms lands on one HMAC: the caller id Asterisk
delivers, the number a DPO types for a data-subject request (C5) and a remembered
objection (C4)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.access.service import AccessService
from controller.clock import FixedClock
from controller.config import Config
from controller.privacy import caller_hash, earlier_caller_hash
from controller.recordings import LocalVault
from controller.store import SqliteStore
from tests.sites import add_call, load_site, open_site, write_site

T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
UK = ["447911123456", "+447911123456", "0044 7911 123456", "+44 7911 123456", "00447911123456"]
FR = ["0612345678", "+33612345678", "0033612345678", "33612345678", "06 12 34 56 78"]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Config, SqliteStore, LocalVault]]:
    config = load_site(write_site(tmp_path))
    store, vault = open_site(config)
    yield config, store, vault
    store.close()


@pytest.mark.parametrize(
    ("delivered", "typed"),
    [*itertools.permutations(UK, 2), *itertools.permutations(FR, 2)],
)
def test_c5_call_stored_in_one_form_is_found_with_another(
    site: tuple[Config, SqliteStore, LocalVault], delivered: str, typed: str
) -> None:
    """C5: whatever form Asterisk delivered the caller id in, national, ``00``, ``+`` or
    bare international digits, the DPO finds the call typing any other form."""
    config, store, vault = site
    call_id = add_call(store, config, service="sales", started_at=T0, number=delivered)
    service = AccessService(config, store, vault, FixedClock(T0 + dt.timedelta(days=1)))
    found = service.subject_find(config.access.persons["cdubois"], "access request A-30", typed)
    assert [c.call["id"] for c in found.calls] == [call_id]


@pytest.mark.parametrize(("first", "later"), [*itertools.permutations(UK, 2)])
def test_c4_objection_made_in_one_form_is_remembered_for_the_others(
    site: tuple[Config, SqliteStore, LocalVault], first: str, later: str
) -> None:
    """C4: an objection made from a call delivered one way stops a later call of the same
    number delivered another way."""
    config, store, _ = site
    key, region = config.privacy.caller_hmac_key, config.privacy.default_region
    objected = caller_hash(key, first, region)
    assert objected is not None
    store.remember_objection(objected, T0, config.privacy.objection_memory_days)
    later_hash = caller_hash(key, later, region)
    assert later_hash is not None
    assert store.has_objection(later_hash, T0 + dt.timedelta(days=1))


@pytest.mark.parametrize(
    ("number", "earlier"),
    [
        ("447911123456", "447911123456"),
        ("44 7911 123456", "447911123456"),
        ("+447911123456", None),
        ("0044 7911 123456", None),
        ("0612345678", None),
        ("33612345678", None),
        ("1001", None),
        ("anonymous", None),
    ],
)
def test_c4_earlier_hash_only_for_forms_whose_rule_changed(
    site: tuple[Config, SqliteStore, LocalVault], number: str, earlier: str | None
) -> None:
    """C4: only bare international digits were hashed differently before; for them the
    earlier HMAC is the one of the digits as they came."""
    config, _, _ = site
    key = config.privacy.caller_hmac_key
    expected = (
        hmac.new(key.reveal().encode(), earlier.encode(), hashlib.sha256).hexdigest()
        if earlier
        else None
    )
    assert earlier_caller_hash(key, number, "FR") == expected


def test_c4_carried_objection_keeps_the_later_expiry_and_leaves_no_earlier_row(
    site: tuple[Config, SqliteStore, LocalVault],
) -> None:
    config, store, _ = site
    key = config.privacy.caller_hmac_key
    earlier = earlier_caller_hash(key, "447911123456", "FR")
    current = caller_hash(key, "447911123456", "FR")
    assert earlier is not None and current is not None
    store.remember_objection(earlier, T0, 365)
    store.remember_objection(current, T0 - dt.timedelta(days=300), 365)
    assert store.carry_objection(earlier, current)
    assert not store.carry_objection(earlier, current)
    assert store.has_objection(current, T0 + dt.timedelta(days=364))
    assert not store.has_objection(earlier, T0)
