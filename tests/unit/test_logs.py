"""Log output, text and JSON: the same redaction in both (no card digits, caller
numbers or passwords reach a log line)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from controller.config import ConfigError, load_config
from controller.logs import LogFormat, setup_logging
from tests.logstate import logging_restored
from tests.sites import ENV, site_config

CARD = "4556 7375 8689 9855"
NUMBER = "+33612345678"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    with logging_restored():
        yield


def emit(fmt: LogFormat) -> str:
    out = io.StringIO()
    setup_logging("INFO", stream=out, fmt=fmt)
    log = logging.getLogger("reccontrol.test")
    log.info("call from %s paid with %s on channel 1764398403.12", NUMBER, CARD)
    try:
        raise KeyError(NUMBER)
    except KeyError:
        log.exception("lookup failed")
    return out.getvalue()


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_both_formats_redact_digits_in_messages_and_tracebacks_M1(fmt: LogFormat) -> None:
    """M1: card numbers (and caller numbers) are masked, in the message and in a
    traceback; a dotted Asterisk channel id is kept."""
    text = emit(fmt)
    assert CARD not in text and CARD.replace(" ", "") not in text
    assert NUMBER not in text and NUMBER[1:] not in text
    assert "[redacted]" in text and "1764398403.12" in text


@pytest.mark.usefixtures("restore_logging")
def test_json_is_one_object_per_line_for_journald() -> None:
    lines = emit("json").splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "INFO" and first["logger"] == "reccontrol.test"
    assert first["message"] == (
        "call from [redacted] paid with [card number] on channel 1764398403.12"
    )
    assert first["time"].endswith("+00:00")
    assert second["level"] == "ERROR" and "KeyError" in second["exception"]


def config_with_logging(tmp_path: Path, section: object) -> Path:
    data = site_config(tmp_path)
    data["logging"] = section
    path = tmp_path / "reccontrol.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_logging_format_key(tmp_path: Path) -> None:
    assert load_config(config_with_logging(tmp_path, {}), environ=ENV).logging.format == "text"
    path = config_with_logging(tmp_path, {"format": "json", "level": "WARNING"})
    settings = load_config(path, environ=ENV).logging
    assert (settings.format, settings.level) == ("json", "WARNING")
    with pytest.raises(ConfigError) as caught:
        load_config(config_with_logging(tmp_path, {"format": "xml"}), environ=ENV)
    (problem,) = [str(p) for p in caught.value.problems]
    assert problem.startswith("logging.format:")
