"""The console's core on the daemon's application (S1, S2): sign-in and sign-out through
the audited door, the session cookie, CSRF on every form, the idle timeout, the sign-in
rate limit, the security headers, the API's two ways in, and the words in both
languages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from controller.web.security import CONTENT_SECURITY_POLICY
from tests.component.console_rig import Console, console_rig
from tests.sites import PASSWORD


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    async for rig in console_rig(tmp_path):
        yield rig


class SessionsClock:
    """The sessions' clock, moved by the test: idle time passes when the test says, not
    while a loaded machine is slow between two requests of the sign-in."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sessions_clock() -> SessionsClock:
    return SessionsClock()


@pytest.fixture
async def short_sessions(tmp_path: Path, sessions_clock: SessionsClock) -> AsyncIterator[Console]:
    def change(data: dict[str, Any]) -> None:
        data["web"] = {**data.get("web", {}), "session_idle_seconds": 1}

    async for rig in console_rig(tmp_path, change, sessions_clock=sessions_clock):
        yield rig


def actions(console: Console) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.result) for e in console.access_log()]


async def test_s1_pages_need_a_sign_in_and_send_the_person_back_where_they_were(
    console: Console,
) -> None:
    response = await console.client.get("/?x=1", allow_redirects=False)
    assert response.status == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == "/sign-in"
    assert parse_qs(location.query)["next"] == ["/?x=1"]


async def test_s1_s2_sign_in_opens_a_session_with_a_strict_cookie_and_is_logged(
    console: Console,
) -> None:
    form = {"person": "mleroy", "secret": console.token("mleroy"), "kind": "token"}
    form |= {"csrf": await console.form_token(), "next": "/"}
    response = await console.client.post("/sign-in", data=form, allow_redirects=False)
    assert response.status == 303
    cookie = response.cookies["reccontrol_session"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert not cookie["secure"]  # plain HTTP on the loopback; under TLS: Secure
    home = await console.client.get("/")
    assert home.status == 200
    assert "Mleroy" in await home.text()
    assert actions(console) == [("mleroy", "sign_in", "ok")]


async def test_s1_sign_in_with_a_password(console: Console) -> None:
    def with_password(data: dict[str, Any]) -> None:
        person = data["access"]["persons"]["snguyen"]
        del person["token_hash_file"]
        person["password_hash_file"] = str(console.root / "access" / "snguyen.scrypt")

    async for rig in console_rig(console.root / "pw", with_password):
        (rig.root / "access").mkdir(exist_ok=True)
        form = {"person": "snguyen", "secret": PASSWORD, "kind": "password"}
        form |= {"csrf": await rig.form_token(), "next": "/"}
        response = await rig.client.post("/sign-in", data=form, allow_redirects=False)
        assert response.status == 303


async def test_s1_a_wrong_secret_is_refused_logged_and_rate_limited(console: Console) -> None:
    statuses = []
    for _ in range(7):
        form = {"person": "mleroy", "secret": "wrong", "kind": "token"}
        form |= {"csrf": await console.form_token()}
        response = await console.client.post("/sign-in", data=form, allow_redirects=False)
        statuses.append(response.status)
    assert statuses == [401] * 5 + [429] * 2
    assert actions(console) == [("mleroy", "sign_in", "refused")] * 5
    # The right token of another person still gets in.
    await console.sign_in("snguyen")


async def test_s2_a_sign_in_form_without_its_token_is_refused(console: Console) -> None:
    """Login CSRF: another site's form cannot sign the browser in."""
    form = {"person": "mleroy", "secret": console.token("mleroy"), "kind": "token"}
    response = await console.client.post("/sign-in", data=form, allow_redirects=False)
    assert response.status == 403
    assert 'data-error-id="csrf-refused"' in await response.text()
    assert actions(console) == []


async def test_s2_a_signed_in_form_needs_the_session_token(console: Console) -> None:
    csrf = await console.sign_in("mleroy")
    refused = await console.client.post("/sign-out", data={"csrf": "forged"})
    assert refused.status == 403
    assert (await console.client.get("/", allow_redirects=False)).status == 200
    done = await console.client.post("/sign-out", data={"csrf": csrf}, allow_redirects=False)
    assert done.status == 303
    assert (await console.client.get("/", allow_redirects=False)).status == 303
    assert actions(console)[-1] == ("mleroy", "sign_out", "ok")


async def test_s1_a_session_ends_when_idle(
    short_sessions: Console, sessions_clock: SessionsClock
) -> None:
    console = short_sessions
    await console.sign_in("mleroy")
    # Used within the configured second: still open, and that use counts as the last.
    sessions_clock.now += 0.9
    assert (await console.client.get("/", allow_redirects=False)).status == 200
    sessions_clock.now += 0.9
    assert (await console.client.get("/", allow_redirects=False)).status == 200
    # Idle for longer than the second: over.
    sessions_clock.now += 1.1
    assert (await console.client.get("/", allow_redirects=False)).status == 303


async def test_s4_every_answer_carries_the_strict_security_headers(console: Console) -> None:
    for path in ("/sign-in", "/static/console.css", "/healthz"):
        response = await console.client.get(path)
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"


async def test_s1_the_api_takes_a_session_or_a_token(console: Console) -> None:
    anonymous = await console.client.get("/api/me")
    assert anonymous.status == 401
    assert (await anonymous.json())["error_id"] == "unauthenticated"
    headers = {"Authorization": f"Bearer {console.token('snguyen')}"}
    unnamed = await console.client.get("/api/me", headers=headers)
    assert (await unnamed.json())["error_id"] == "unauthenticated"
    headers["X-Reccontrol-Person"] = "snguyen"
    by_token = await console.client.get("/api/me", headers=headers)
    assert by_token.status == 200
    assert (await by_token.json())["id"] == "snguyen"
    wrong = await console.client.get(
        "/api/me", headers={"Authorization": "Bearer wrong", "X-Reccontrol-Person": "mleroy"}
    )
    assert wrong.status == 401
    await console.sign_in("mleroy")
    by_session = await console.client.get("/api/me")
    assert (await by_session.json()) == {
        "id": "mleroy",
        "name": "Mleroy",
        "role": "supervisor",
        "services": ["sales"],
    }


async def test_s2_an_api_write_by_session_needs_the_csrf_header(console: Console) -> None:
    csrf = await console.sign_in("mleroy")
    refused = await console.client.post("/api/sign-out")
    assert refused.status == 403
    assert (await refused.json())["error_id"] == "csrf-refused"
    done = await console.client.post("/api/sign-out", headers={"X-CSRF-Token": csrf})
    assert done.status == 204
    assert (await console.client.get("/api/me")).status == 401


async def test_both_languages_and_the_choice_is_kept(console: Console) -> None:
    fr = await console.client.get("/sign-in", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert "Connexion" in await fr.text()
    en = await console.client.get("/sign-in", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert "Sign in" in await en.text()
    token = await console.form_token()
    await console.client.post("/language", data={"lang": "en", "csrf": token, "next": "/sign-in"})
    chosen = await console.client.get("/sign-in", headers={"Accept-Language": "fr"})
    assert "Sign in" in await chosen.text()


async def test_a_missing_page_is_a_console_page_and_a_missing_api_route_json(
    console: Console,
) -> None:
    page = await console.client.get("/no-such-page", headers={"Accept": "text/html"})
    assert page.status == 404
    assert page.content_type == "text/html"
    assert 'data-error-id="not-found"' in await page.text()
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    api = await console.client.get("/api/no-such-route", headers={"Accept": "text/html"})
    assert api.status == 404
    assert (await api.json())["error_id"] == "not-found"


async def test_s4_a_stream_of_server_sent_events_carries_the_headers_too(
    console: Console,
) -> None:
    """Streamed answers send their headers before any middleware sees them: the headers
    are added as each answer is prepared."""
    await console.sign_in("mleroy")
    async with console.client.get("/api/live/events") as events:
        assert events.status == 200
        assert events.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert events.headers["X-Content-Type-Options"] == "nosniff"
