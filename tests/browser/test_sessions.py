"""The console's session in a real browser (S1): it ends once left unused for the
configured idle time, and under ``web.tls`` its cookie only travels over HTTPS."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser.conftest import StartConsole
from tests.browser.pages import CspWatch, session_cookie, sign_in
from tests.browser.site import Account, ConsoleDaemon

IDLE_SECONDS = 2


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "console.crt", folder / "console.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


class SessionsClock:
    """The console's sessions' clock, moved by the test: the idle time passes when the
    test says, not while a loaded machine is slow between the sign-in and the next page."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def sessions_clock() -> SessionsClock:
    return SessionsClock()


@pytest.fixture(scope="module")
def short_sessions(
    start_console: StartConsole, sessions_clock: SessionsClock
) -> Iterator[ConsoleDaemon]:
    web = {"session_idle_seconds": IDLE_SECONDS}
    with start_console("idle", web=web, sessions_clock=sessions_clock) as console:
        yield console


@pytest.fixture(scope="module")
def over_tls(
    start_console: StartConsole, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConsoleDaemon]:
    workdir = tmp_path_factory.mktemp("tls")
    certificate, key = self_signed(workdir / "tls")
    web = {"tls": {"certificate": str(certificate), "key": str(key)}}
    with start_console("tls", workdir, web=web) as console:
        yield console


def test_s1_a_session_left_unused_past_the_idle_time_is_over(
    short_sessions: ConsoleDaemon,
    sessions_clock: SessionsClock,
    accounts: dict[str, Account],
    page: Page,
) -> None:
    """S1: signed in, then nothing for longer than ``web.session_idle_seconds``: the next
    page sends the person back to the sign-in form (to come back where they were), and
    the API answers 401 to the same cookie."""
    console = short_sessions
    sign_in(page, console.url, accounts["mleroy"])
    # Used just within the idle time: still signed in.
    sessions_clock.now += IDLE_SECONDS - 0.5
    assert page.goto(f"{console.url}/") is not None and page.url == f"{console.url}/"

    sessions_clock.now += IDLE_SECONDS + 0.5
    page.goto(f"{console.url}/")

    back = urlsplit(page.url)
    assert back.path == "/sign-in" and parse_qs(back.query) == {"next": ["/"]}
    answer = page.context.request.get(f"{console.url}/api/me")
    assert answer.status == 401 and answer.json()["error_id"] == "unauthenticated"


def test_s1_under_tls_the_session_cookie_is_secure(
    over_tls: ConsoleDaemon, accounts: dict[str, Account], browser: Browser
) -> None:
    """S1: with ``web.tls`` the console speaks HTTPS, and its session cookie is Secure
    (as well as HttpOnly and SameSite=Strict); the answers ask browsers to keep to
    HTTPS (HSTS)."""
    console = over_tls
    assert console.url.startswith("https://")
    # The certificate is the test's own: the browser is told to accept it.
    context: BrowserContext = browser.new_context(ignore_https_errors=True)
    try:
        csp = CspWatch.on(context)
        page = context.new_page()
        answer = sign_in(page, console.url, accounts["cdubois"])

        assert answer.status == 303 and page.url == f"{console.url}/"
        cookie = session_cookie(context)
        assert cookie is not None
        assert (cookie["secure"], cookie["httpOnly"], cookie["sameSite"]) == (
            True,
            True,
            "Strict",
        )
        assert answer.header_value("strict-transport-security") is not None
        csp.settle(page)
        assert csp.violations == []
    finally:
        context.close()
