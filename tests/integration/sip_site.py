"""The three fixtures every SIP-phone test module needs: an Asterisk of the module's
own (its tests run in one worker and find it as the earlier ones left it), a demo
site on it for each test, and the SIPp switchboard of its phones.

A module takes them with ``sip_asterisk, site, phones = sip_site_fixtures("label")``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.demo.site import SandboxSite
from controller.sandbox import Sandbox, SandboxInstance
from tests.conftest import own_instance
from tests.sip.sipp import Switchboard, sip_phones


def sip_site_fixtures(label: str) -> tuple[Any, Any, Any]:
    """The ``sip_asterisk``, ``site`` and ``phones`` fixtures of one module, its
    Asterisk instance named ``label``."""

    @pytest.fixture(scope="module")
    def sip_asterisk(sandbox: Sandbox) -> Iterator[SandboxInstance]:
        with own_instance(sandbox, label) as instance:
            yield instance

    @pytest.fixture
    def site(sip_asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
        return SandboxSite(sip_asterisk, tmp_path / "site")

    @pytest.fixture
    async def phones(
        sip_asterisk: SandboxInstance, tmp_path: Path
    ) -> AsyncIterator[Switchboard]:
        async with sip_phones(
            sip_asterisk.sip_port, sip_asterisk.phone_ports, tmp_path / "sipp"
        ) as board:
            yield board

    return sip_asterisk, site, phones
