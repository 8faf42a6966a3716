"""Phone and card numbers in free text (Medium 6): masked in logs in any common format,
and a card number (PAN) refused in every field that reaches the store."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.access.service import AccessRefused, AccessService
from controller.clock import FixedClock
from controller.config import Config
from controller.logs import RedactingFilter, contains_pan, mask_digits
from controller.recordings import LocalVault
from controller.store import SqliteStore
from tests.sites import add_call, add_recording, load_site, open_site, write_site

T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
PHONES = [
    "caller 0612345678.",
    "call from 06.12.34.56.78",
    "+33 (0)6 12 34 56 78 called",
    "number 06-12-34-56-78, then",
    "ring 06 12 34 56 78!",
    "(01) 42 68 53 00",
    "+1 650-253-0000",
    "0033612345678;",
]
KEPT = [
    "channel 1764398403.12 answered",
    "host 192.168.100.200",
    "Asterisk 22.10.1",
    "recording e848c230c8553f47",
    "amount 1234567.89 EUR",
    "ticket 42",
]


@pytest.mark.parametrize("text", PHONES)
def test_medium6_phone_numbers_masked_in_any_common_format(text: str) -> None:
    """Medium 6: a phone number followed by a dot, written with dots or brackets, is
    masked (the old pattern let ``caller 0612345678.`` and ``06.12.34.56.78`` through)."""
    masked = mask_digits(text)
    assert "[redacted]" in masked
    assert sum(ch.isdigit() for ch in masked) < 4


@pytest.mark.parametrize("text", KEPT)
def test_ids_versions_and_addresses_stay_readable(text: str) -> None:
    assert mask_digits(text) == text


def test_medium6_log_filter_masks_phone_numbers_with_trailing_punctuation() -> None:
    """Medium 6: the last line of defence in every log handler."""
    stream = io.StringIO()
    logger = logging.getLogger("reccontrol.test-masking")
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    try:
        logger.warning("purpose %r", "caller 0612345678.")
        logger.warning("purpose call from 06.12.34.56.78")
    finally:
        logger.removeHandler(handler)
    assert "0612345678" not in stream.getvalue() and "06.12.34" not in stream.getvalue()


@pytest.mark.parametrize(
    "text",
    [
        "card 4111111111111111.",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "ref4556737586899855x",
        "order 99 4970100000000055",
        "amex 378282246310005",
    ],
)
def test_medium6_luhn_valid_pan_is_found(text: str) -> None:
    assert contains_pan(text)


@pytest.mark.parametrize(
    "text", ["4111111111111112", "411111111111", "call 0612345678", "ticket 42", ""]
)
def test_non_pan_is_not_flagged(text: str) -> None:
    assert not contains_pan(text)


# -- through the audited door, on a real store ----------------------------------------
@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Config, SqliteStore, LocalVault, Path]]:
    config = load_site(write_site(tmp_path))
    store, vault = open_site(config)
    yield config, store, vault, tmp_path
    store.close()


def service_for(config: Config, store: SqliteStore, vault: LocalVault) -> AccessService:
    return AccessService(config, store, vault, FixedClock(T0 + dt.timedelta(days=1)))


def whole_store(store: SqliteStore) -> str:
    dump = []
    for table in store.db.table_names():
        dump += [json.dumps(row, default=str) for row in store.db.query(f"SELECT * FROM [{table}]")]  # noqa: S608
    return "\n".join(dump)


@pytest.mark.parametrize("purpose", ["caller 0612345678.", "call from 06.12.34.56.78"])
def test_medium6_purpose_with_a_phone_number_is_refused_and_logged_masked(
    site: tuple[Config, SqliteStore, LocalVault, Path], purpose: str
) -> None:
    """Medium 6 (S2): such a purpose used to be accepted and kept in the access log for a
    year; now it is refused, and the refusal logs it masked."""
    config, store, vault, _ = site
    service = service_for(config, store, vault)
    call_id = add_call(store, config, service="sales", started_at=T0)
    supervisor = config.access.persons["mleroy"]
    with pytest.raises(AccessRefused, match="must not contain phone or card numbers"):
        service.sheet_create(supervisor, purpose, call_id, {}, {}, "Fine.")
    entry = list(store.access_entries())[-1]
    assert entry.result == "refused" and "[redacted]" in entry.purpose
    assert "0612345678" not in whole_store(store) and "06.12.34" not in whole_store(store)


@pytest.mark.parametrize(
    ("field", "text"),
    [("free text", "card 4111111111111111."), ("greeting: comment", "4111-1111-1111-1111")],
)
def test_medium6_card_number_in_sheet_is_refused_naming_the_field(
    site: tuple[Config, SqliteStore, LocalVault, Path], field: str, text: str
) -> None:
    """Medium 6 (PCI DSS 3.4): ``card 4111111111111111.`` used to be stored as sheet text."""
    config, store, vault, _ = site
    service = service_for(config, store, vault)
    call_id = add_call(store, config, service="sales", started_at=T0)
    supervisor = config.access.persons["mleroy"]
    comments = {"greeting": text} if field != "free text" else {}
    free_text = text if field == "free text" else "Fine."
    with pytest.raises(AccessRefused, match=f"{field}: must not contain a card number"):
        service.sheet_create(supervisor, "monthly evaluation", call_id, {}, comments, free_text)
    # The number as written and as digits: four digits alone can occur in a random id.
    stored = whole_store(store)
    assert text not in stored and "4111111111111111" not in stored and "1111-1111" not in stored


def test_medium6_card_number_glued_to_text_in_a_purpose_is_refused(
    site: tuple[Config, SqliteStore, LocalVault, Path],
) -> None:
    config, store, vault, _ = site
    service = service_for(config, store, vault)
    call_id = add_call(store, config, service="sales", started_at=T0)
    supervisor = config.access.persons["mleroy"]
    with pytest.raises(AccessRefused, match="purpose: must not contain a card number"):
        service.sheet_create(supervisor, "refund card4111111111111111", call_id, {}, {}, "Ok.")
    assert "4111111111111111" not in whole_store(store)


def test_medium6_export_named_after_a_number_is_logged_masked_and_a_pan_refused(
    site: tuple[Config, SqliteStore, LocalVault, Path],
) -> None:
    """Medium 6: an export file named after a phone number was logged as typed; one named
    after a card number is refused."""
    config, store, vault, root = site
    service = service_for(config, store, vault)
    _, recording = add_recording(store, vault, config, service="sales", created_at=T0)
    dpo = config.access.persons["cdubois"]
    service.export(dpo, "mediation ticket M-3", recording, root / "0612345678.zip")
    entry = list(store.access_entries())[-1]
    assert entry.action == "export" and entry.details["file"] == "[redacted].zip"
    with pytest.raises(AccessRefused, match="export file name: must not contain a card number"):
        service.export(dpo, "mediation ticket M-3", recording, root / "4111111111111111.zip")
    assert not (root / "4111111111111111.zip").exists()
    assert "0612345678" not in whole_store(store) and "4111111111111111" not in whole_store(store)
