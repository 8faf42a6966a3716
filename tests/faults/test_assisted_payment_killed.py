"""The daemon killed with SIGKILL while a caller keys a card with the agent on the line
(M4, R1), restarted 1 s later as systemd would.

The caller is muted towards the call while keying; the old process took the card data
with it. The restarted daemon must not leave the caller muted: the agent's phone hears
the caller again, nothing is charged, and the masked span is closed (``restart``) with
the interrupted-payment alert. The invariants of ``tests/faults/invariants.py`` hold
once the call ends.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from controller.demo.payment_api import PaymentApi, make_certificates
from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from tests.audio import dtmf_keys, tone_seconds
from tests.faults.test_daemon_killed_calls import RESYNC_BUDGET_MS, killing
from tests.integration.flow import AGENT_VOICE, CALLER_VOICE
from tests.integration.test_payments import CARD, payment_section
from tests.sip.capture import received_audio
from tests.sip.media import Part, duration_ms, keys, tone
from tests.sip.sipp import Switchboard as SipPhones
from tests.sip.sipp import sip_phones

CALLER_NUMBER = "+33611117777"
CALLER_MARKER = 2650.0  # what the caller hums while muted, before the kill


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


@pytest.fixture
async def phones(asterisk: SandboxInstance, tmp_path: Path) -> AsyncIterator[SipPhones]:
    async with sip_phones(asterisk.sip_port, asterisk.phone_ports, tmp_path / "sipp") as board:
        yield board


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[PaymentApi]:
    server = PaymentApi(make_certificates(tmp_path / "certs"))
    await server.start()
    yield server
    await server.stop()


def rows(store: Path, query: str) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute(query)]


async def test_r1_m4_killed_mid_entry_the_restart_unmutes_the_caller(
    site: SandboxSite, tmp_path: Path, phones: SipPhones, api: PaymentApi
) -> None:
    """M4 through a crash: killed after the agent heard the fourth key's beep (the
    caller muted, the masked span open). After the restart the agent's phone hears the
    caller's voice again to the end of the call, and never a key tone or the caller's
    marker; nothing was charged; the span is closed ``restart`` with the alert."""
    agent: list[Part] = [tone(AGENT_VOICE, 2000), *keys("*8"), tone(AGENT_VOICE, 60000)]
    # The agent presses *8 about 5.3 s after the caller's answer: by 8 s the caller is
    # muted. The rest of the card is keyed while the daemon is down or adopting.
    caller: list[Part] = [
        tone(CALLER_VOICE, 8000),
        tone(CALLER_MARKER, 1000),
        *keys(CARD),
        # Long enough for a restart and an adoption slowed by a loaded machine, and then
        # some: the end of the call must hear the caller.
        tone(CALLER_VOICE, RESYNC_BUDGET_MS + 10000),
    ]
    headers = {"X-Payment-Amount": "42.50", "X-Payment-Order": "ORD-77"}
    # Sounds played: the announcement, the agent's ok (the amount is read), then a beep
    # per key: the sixth play is the fourth key's.
    points = ("did:Play@6",)
    payment = payment_section(site, api) | {"mode": "assisted"}
    payment["digit_sound"] = site.tone_sound("pay-digit", [(3400.0, 0.06)])
    config = {
        "target": "PJSIP/alice",
        "endpoint": "PJSIP/alice",
        "sales": {"payments": True},
        "payment": payment,
    }
    ports: set[int] = set()
    with received_audio(ports) as capture:
        async with killing("assisted_payment", site, tmp_path, points, **config) as run:
            agent_phone = await phones.agent("alice", agent)
            ports.add(agent_phone.media_port)
            trunk = await phones.call(
                "sales", CALLER_NUMBER, caller, duration_ms(caller), headers
            )
            await run.kill_at_points(landed="masked_spans")
            await run.restart()
            await trunk.finished(60)
            await run.settle()
            await phones.finished(10)

    assert not api.charges and api.received == []
    heard = capture.heard(agent_phone.media_port)
    assert capture.events_to.get(agent_phone.media_port, 0) == 0
    assert dtmf_keys(heard) == []
    assert tone_seconds(heard, CALLER_MARKER) == 0.0
    # The caller is heard before the payment, and again after the restart to the end.
    assert tone_seconds(heard.slice(0, 2), CALLER_VOICE) > 1.5
    tail = heard.slice(heard.duration - 6, heard.duration - 0.5)
    assert tone_seconds(tail, CALLER_VOICE) > 4.5, "the caller stayed muted"
    (span,) = rows(run.store, "SELECT ended_by, ended_at FROM masked_spans")
    assert span["ended_by"] == "restart" and span["ended_at"]
    kinds = [a["kind"] for a in rows(run.store, "SELECT kind FROM alerts")]
    assert "payment_interrupted" in kinds
    assert rows(run.store, "SELECT status FROM payments") == []
