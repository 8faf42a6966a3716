"""Card and phone numbers typed with Unicode spaces, dots, dashes or fullwidth digits
(M1, C4): masked in the log output, in messages and in tracebacks, and refused in a
summary sheet, like the same numbers typed in ASCII."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.access.service import AccessRefused, AccessService
from controller.clock import FixedClock
from controller.config import Config
from controller.logs import LogFormat, contains_pan, fold, setup_logging
from controller.recordings import LocalVault
from controller.store import SqliteStore
from tests.logstate import logging_restored
from tests.sites import add_call, load_site, open_site, write_site

REPO = Path(__file__).resolve().parents[2]
T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
# U+FF10 to U+FF19, written with escapes so the source shows what they are.
FULLWIDTH = str.maketrans("0123456789", "".join(chr(0xFF10 + d) for d in range(10)))


def card_written(separator: str, digits: str = "4111111111111111") -> str:
    return separator.join(digits[i : i + 4] for i in range(0, len(digits), 4))


def phone_written(separator: str) -> str:
    return separator.join(["06", "12", "34", "56", "78"])


# Every way of writing a separator between digit groups that a word processor, a
# spreadsheet or a hurried person produces.
SEPARATORS = {
    "dots": ".",
    "spaced dash": " - ",
    "double space": "  ",
    "tab": "\t",
    "no-break space": "\u00a0",
    "narrow no-break space": "\u202f",
    "en quad": "\u2000",
    "figure space": "\u2007",
    "thin space": "\u2009",
    "hair space": "\u200a",
    "zero-width space": "\u200b",
    "ideographic space": "\u3000",
    "hyphen": "\u2010",
    "non-breaking hyphen": "\u2011",
    "figure dash": "\u2012",
    "en dash": "\u2013",
    "em dash": "\u2014",
    "horizontal bar": "\u2015",
    "minus sign": "\u2212",
    "spaced en dash": " \u2013 ",
    "fullwidth full stop": "\uff0e",
}
CARDS = {name: card_written(sep) for name, sep in SEPARATORS.items()}
CARDS["fullwidth digits"] = card_written(" ").translate(FULLWIDTH)
CARDS["fullwidth digits, no space"] = "4111111111111111".translate(FULLWIDTH)
CARDS["amex, no-break spaces"] = "3782\u00a0822463\u00a010005"
PHONES = {name: phone_written(sep) for name, sep in SEPARATORS.items()}
PHONES["fullwidth digits"] = "0612345678".translate(FULLWIDTH)
PHONES["international, narrow no-break spaces"] = "+33\u202f6\u202f12\u202f34\u202f56\u202f78"


def digits_left(text: str) -> str:
    """The ASCII digits of ``text`` once folded, to see whether a number survived in
    any form."""
    return "".join(ch for ch in fold(text) if ch.isdigit())


@pytest.fixture
def log_output() -> Iterator[tuple[io.StringIO, LogFormat]]:
    with logging_restored():
        stream = io.StringIO()
        setup_logging("INFO", stream=stream, fmt="text")
        yield stream, "text"


def message_of(line: str) -> str:
    return line.split("reccontrol.test: ", 1)[1]


@pytest.mark.parametrize("form", list(CARDS.values()), ids=list(CARDS))
def test_m1_card_number_in_any_unicode_form_is_masked_in_the_log_output(
    log_output: tuple[io.StringIO, LogFormat], form: str
) -> None:
    """M1: ``4111.1111.1111.1111``, ``4111 - 1111 - ...`` and the forms with Unicode
    spaces, dashes or fullwidth digits reached the log line as typed."""
    stream, _ = log_output
    logging.getLogger("reccontrol.test").info("paid with %s, thanks", form)
    assert message_of(stream.getvalue()) == "paid with [card number], thanks\n"


@pytest.mark.parametrize("form", list(PHONES.values()), ids=list(PHONES))
def test_c4_phone_number_in_any_unicode_form_is_masked_in_the_log_output(
    log_output: tuple[io.StringIO, LogFormat], form: str
) -> None:
    """C4: a caller number written with no-break spaces, Unicode dashes or fullwidth
    digits reached the log line as typed."""
    stream, _ = log_output
    logging.getLogger("reccontrol.test").info("caller %s, hung up", form)
    assert message_of(stream.getvalue()) == "caller [redacted], hung up\n"


@pytest.mark.parametrize(
    "form",
    [CARDS["narrow no-break space"], CARDS["fullwidth digits"], CARDS["dots"], PHONES["en dash"]],
    ids=["card, narrow no-break space", "card, fullwidth", "card, dots", "phone, en dash"],
)
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_m1_traceback_carrying_a_unicode_number_is_masked(
    log_output: tuple[io.StringIO, LogFormat], form: str, fmt: LogFormat
) -> None:
    """M1, C4: an exception whose text quotes such a number was written in the
    traceback as typed."""
    stream = io.StringIO()
    setup_logging("INFO", stream=stream, fmt=fmt)
    try:
        raise ValueError(f"no account for {form}")
    except ValueError:
        logging.getLogger("reccontrol.test").exception("lookup failed")
    output = stream.getvalue()
    assert "Traceback" in output and "no account for [" in output
    # The digits of the record's text, without its time (at 11:11 the time alone held
    # "1111") and the traceback's file and line numbers, which are not the number.
    if fmt == "json":
        record = json.loads(output)
        assert "no account for [" in record["exception"]
        text = f"{record['message']}\n{record['exception']}"
    else:
        text = message_of(output)
    said = "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith('File "')
    )
    assert "1111" not in digits_left(said) and "345678" not in digits_left(said)


KEPT = [
    "channel 1764398403.1234 answered",
    "channel 1764398403.12 answered",
    "host 192.168.100.200",
    "Asterisk 22.10.1",
    "montant 1\u202f234\u202f567,89\u00a0€",
    "durée 3\u00a0min 12\u00a0s, note 4\u2009/\u20095",
    "ticket \uff14\uff12",
]


@pytest.mark.parametrize("text", KEPT)
def test_ids_amounts_and_dates_with_unicode_characters_stay_readable(
    log_output: tuple[io.StringIO, LogFormat], text: str
) -> None:
    stream, _ = log_output
    logging.getLogger("reccontrol.test").info("%s", text)
    assert message_of(stream.getvalue()) == text + "\n"
    assert not contains_pan(text)


# -- the summary sheet check, through the audited door on a real store -----------------
@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Config, SqliteStore, LocalVault]]:
    config = load_site(write_site(tmp_path))
    store, vault = open_site(config)
    yield config, store, vault
    store.close()


def sheets_in(store: SqliteStore) -> str:
    return json.dumps(list(store.db.query("SELECT * FROM sheets")), default=str)


@pytest.mark.parametrize("form", list(CARDS.values()), ids=list(CARDS))
@pytest.mark.parametrize("field", ["free text", "greeting: comment"])
def test_m1_sheet_holding_a_card_number_in_any_unicode_form_is_refused(
    site: tuple[Config, SqliteStore, LocalVault], form: str, field: str
) -> None:
    """M1 (PCI DSS 3.4): a sheet whose text held ``4111.1111.1111.1111`` or a card
    number typed with Unicode spaces or dashes was stored."""
    config, store, vault = site
    service = AccessService(config, store, vault, FixedClock(T0 + dt.timedelta(days=1)))
    call_id = add_call(store, config, service="sales", started_at=T0)
    supervisor = config.access.persons["mleroy"]
    text = f"Caller read out {form} on the line."
    comments = {"greeting": text} if field != "free text" else {}
    free_text = text if field == "free text" else "Fine."
    with pytest.raises(AccessRefused, match=f"{field}: must not contain a card number"):
        service.sheet_create(supervisor, "monthly evaluation", call_id, {}, comments, free_text)
    assert "1111" not in digits_left(sheets_in(store))


@pytest.mark.parametrize("form", list(PHONES.values()), ids=list(PHONES))
def test_c4_sheet_holding_a_phone_number_in_any_unicode_form_is_refused(
    site: tuple[Config, SqliteStore, LocalVault], form: str
) -> None:
    """C4: a sheet is about the employee's work; a caller number typed with Unicode
    spaces or dashes was stored in it."""
    config, store, vault = site
    service = AccessService(config, store, vault, FixedClock(T0 + dt.timedelta(days=1)))
    call_id = add_call(store, config, service="sales", started_at=T0)
    supervisor = config.access.persons["mleroy"]
    with pytest.raises(AccessRefused, match="free text: must not contain phone or card numbers"):
        service.sheet_create(
            supervisor, "monthly evaluation", call_id, {}, {}, f"Call back on {form}."
        )
    assert "345678" not in digits_left(sheets_in(store))


def messages(stderr: str) -> str:
    """What the log lines and tracebacks say, without the digits that are not data: each
    line's timestamp and the traceback's ``File "...", line N`` locations. Joined, those
    digits can spell ``1111`` by chance (a time of 04:28:42,111 then a 1)."""
    kept = []
    for line in stderr.splitlines():
        if line.lstrip().startswith('File "'):
            continue
        kept.append(TIMESTAMP.sub("", line))
    return "\n".join(kept)


TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[,.]\d+)?(?:[+-]\d\d:?\d\d|Z)?\s*")


UNCAUGHT = """
import threading
from controller.logs import setup_logging

def worker():
    raise ValueError("thread saw " + CARD)

setup_logging("INFO")
thread = threading.Thread(target=worker, name="worker")
thread.start()
thread.join()
raise LookupError("main saw " + PHONE)
"""


def test_m1_uncaught_exceptions_carrying_a_number_are_logged_masked() -> None:
    """M1, C4: an exception nothing caught, in the main thread or another, was printed
    by Python straight to standard error (the journal), number and all."""
    code = f"CARD = {CARDS['narrow no-break space']!r}\nPHONE = {PHONES['en dash']!r}\n"
    result = subprocess.run(
        [sys.executable, "-c", code + UNCAUGHT],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 1
    assert "CRITICAL reccontrol: uncaught exception in thread worker" in result.stderr
    assert "ValueError: thread saw [card number]" in result.stderr
    assert "CRITICAL reccontrol: uncaught exception\n" in result.stderr
    assert "LookupError: main saw [redacted]" in result.stderr
    assert "1111" not in digits_left(messages(result.stderr))
    assert "345678" not in digits_left(messages(result.stderr))
