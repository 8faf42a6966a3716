"""The live view (S8) on the daemon's application: the ``/live`` page, ``GET /api/live``
and its Server-Sent Events, and the listening routes' refusals. The board is fed by
call machines driven here, as the router feeds it."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controller.calls import messages as m
from controller.calls.live import SUBSCRIBER_QUEUE, LiveBoard
from controller.web.keys import CALLS
from tests.component.console_rig import Console, console_rig
from tests.factories import make_service
from tests.openapi import assert_matches_openapi
from tests.unit.test_inbound_call import NOW, Driver
from tests.waiting import until


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    def phone(data: dict[str, Any]) -> None:
        data["access"]["persons"]["mleroy"]["phone"] = "PJSIP/sup-mleroy"

    async for rig in console_rig(tmp_path, phone):
        yield rig


def board(console: Console) -> LiveBoard:
    return console.client.app[CALLS].live


def token_headers(console: Console, person: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {console.token(person)}", "X-Reccontrol-Person": person}


def call(call_id: str, service: str = "sales") -> Driver:
    d = Driver(service=make_service(name=service, sampling_rate=0.999))
    d.call.call_id = call_id
    d.start()
    return d


def to_waiting(d: Driver) -> None:
    d.send(m.ObjectionKnown(False))
    d.finish_announcement()


async def stream(console: Console) -> aiohttp.ClientResponse:
    return await console.client.get("/api/live/events", headers=token_headers(console, "mleroy"))


async def next_event(response: aiohttp.ClientResponse) -> tuple[str, Any]:
    """The next event of the stream (comments skipped)."""
    kind, data = "", ""
    while True:
        line = (await response.content.readline()).decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif not line and kind:
            return kind, json.loads(data)


async def test_s8_the_stream_sends_a_snapshot_then_each_change_in_order(console: Console) -> None:
    """S8: a snapshot, then updates and ends in the order they happened; a call of a
    service outside the person's scope never shows; no number anywhere."""
    live = board(console)
    first = call("aa01")
    live.observe(first.call, NOW)
    response = await stream(console)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    kind, data = await next_event(response)
    assert kind == "snapshot" and [c["state"] for c in data["calls"]] == ["announcement"]
    to_waiting(first)
    live.observe(first.call, NOW)
    elsewhere = call("bb02", service="support")
    live.observe(elsewhere.call, NOW)
    second = call("cc03")
    live.observe(second.call, NOW)
    live.ended("aa01")
    seen = [await next_event(response) for _ in range(3)]
    assert [(kind, data["call_id"], data["state"]) for kind, data in seen] == [
        ("update", "aa01", "waiting"),
        ("update", "cc03", "announcement"),
        ("end", "aa01", "waiting"),
    ]
    assert "0612345678" not in json.dumps(seen)
    response.close()
    snapshot = await console.client.get("/api/live", headers=token_headers(console, "mleroy"))
    board_json = await snapshot.json()
    assert [c["call_id"] for c in board_json["calls"]] == ["cc03"]
    assert_matches_openapi(board_json, "GET", "/api/live", snapshot.status)
    views = [e.actor for e in console.access_log() if e.action == "live_view"]
    assert views == ["mleroy", "mleroy"]


async def test_s8_a_slow_browser_never_holds_up_the_calls(console: Console) -> None:
    """S8: a browser that reads nothing costs the calls nothing: each change is handed
    over without waiting, its queue stays bounded, and once it reads again it gets a
    fresh snapshot instead of what it missed."""
    live = board(console)
    response = await stream(console)
    assert (await next_event(response))[0] == "snapshot"
    drivers = [call(f"dd{n:02x}") for n in range(200)]
    started = time.perf_counter()
    for d in drivers:
        live.observe(d.call, NOW)
        to_waiting(d)
        live.observe(d.call, NOW)
    elapsed = time.perf_counter() - started
    print(f"measured live_board 400 changes published in {elapsed * 1000:.1f} ms")
    # Far more changes than its queue holds: what it missed comes back as one snapshot,
    # after at most a queue's worth of changes already on their way.
    async with asyncio.timeout(10):
        seen = [await next_event(response)]
        while seen[-1][0] != "snapshot":
            seen.append(await next_event(response))
    assert len(seen) <= SUBSCRIBER_QUEUE + 1 < 400
    data = seen[-1][1]
    assert len(data["calls"]) == 200 and {c["state"] for c in data["calls"]} == {"waiting"}
    response.close()


async def test_s8_a_browser_that_leaves_is_unsubscribed(console: Console) -> None:
    live = board(console)
    response = await stream(console)
    assert (await next_event(response))[0] == "snapshot"
    assert live.subscribers == 1
    response.close()
    await until(lambda: live.subscribers == 0, "the subscription dropped")


async def test_s8_the_live_page_for_each_role(console: Console) -> None:
    """S8: supervisors and quality analysts see the page; only a supervisor with a phone
    gets the "listen live" form, with the session's CSRF token; the DPO may not."""
    board(console).observe(call("ee01").call, NOW)
    csrf = await console.sign_in("mleroy")
    page = await console.client.get("/live")
    text = await page.text()
    assert page.status == 200 and 'src="/static/live.js"' in text and "<script>" not in text
    assert 'action="/live/ee01/listen"' in text and f'value="{csrf}"' in text
    await console.client.post("/sign-out", data={"csrf": csrf})
    await console.sign_in("snguyen")
    quality = await console.client.get("/live")
    assert quality.status == 200 and "/listen" not in await quality.text()
    dpo = await console.client.get("/api/live", headers=token_headers(console, "cdubois"))
    assert (dpo.status, (await dpo.json())["error_id"]) == (403, "forbidden")
    await console.client.post("/sign-out", data={"csrf": await console.sign_in("snguyen")})
    await console.sign_in("cdubois")
    dpo_page = await console.client.get("/live")
    assert dpo_page.status == 403 and 'data-error-id="forbidden"' in await dpo_page.text()
    script = await console.client.get("/static/live.js")
    assert script.status == 200


async def test_s8_listening_routes_refuse_and_log(console: Console) -> None:
    """S8: a call not in progress is 404 ``not-found`` (as one out of scope would be), a
    quality analyst is refused, a session's write needs its CSRF header; each attempt
    that reaches the door is in the access log. The page's form says how it went."""
    body = {"purpose": "coaching a new agent"}
    missing = await console.client.post(
        "/api/calls/0badc0ffee/listen", json=body, headers=token_headers(console, "mleroy")
    )
    assert (missing.status, (await missing.json())["error_id"]) == (404, "not-found")
    assert_matches_openapi(await missing.json(), "POST", "/api/calls/0badc0ffee/listen", 404)
    quality = await console.client.post(
        "/api/calls/0badc0ffee/listen", json=body, headers=token_headers(console, "snguyen")
    )
    assert (quality.status, (await quality.json())["error_id"]) == (403, "forbidden")
    stop = await console.client.delete(
        "/api/calls/0badc0ffee/listen", headers=token_headers(console, "mleroy")
    )
    assert stop.status == 404
    csrf = await console.sign_in("mleroy")
    unprotected = await console.client.post("/api/calls/0badc0ffee/listen", json=body)
    assert (await unprotected.json())["error_id"] == "csrf-refused"
    form = await console.client.post(
        "/live/0badc0ffee/listen",
        data={"csrf": csrf, "purpose": "coaching a new agent"},
        allow_redirects=False,
    )
    assert form.status == 303 and form.headers["Location"] == "/live?outcome=not-found"
    listens = [
        (e.actor, e.action, e.result) for e in console.access_log() if e.action.startswith("live_l")
    ]
    assert listens == [
        ("mleroy", "live_listen", "refused"),
        ("snguyen", "live_listen", "refused"),
        ("mleroy", "live_listen_stop", "refused"),
        ("mleroy", "live_listen", "refused"),
    ]


async def test_s8_the_live_page_follows_the_board_in_a_real_browser(console: Console) -> None:
    """S8: in Chromium, the page's script keeps the table in step with the board (a call
    added, its state changed, a call gone) with the strict CSP in force (no violation),
    and a supervisor with a phone gets the "listen live" form on a call added later."""
    from playwright.async_api import async_playwright

    live = board(console)
    first = call("ab01")
    live.observe(first.call, NOW)
    base = str(console.client.make_url("")).rstrip("/")
    problems: list[str] = []
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
        )
        try:
            page = await browser.new_page(extra_http_headers={"Accept-Language": "en"})
            page.on("console", lambda m: problems.append(f"{m.text} {m.location}"))
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            await page.goto(f"{base}/sign-in?next=/live")
            await page.fill("input[name=person]", "mleroy")
            await page.fill("input[name=secret]", console.token("mleroy"))
            await page.check("input[name=kind][value=token]")
            await page.click("form.sign-in button[type=submit]")
            await page.wait_for_url(f"{base}/live", wait_until="commit")
            await page.wait_for_selector("#live-status:text('Updated live.')")
            row = page.locator("tr[data-call=ab01] .state")
            assert await row.text_content() == "announcement"
            to_waiting(first)
            live.observe(first.call, NOW)
            await page.wait_for_selector("tr[data-call=ab01] .state:text('waiting / ringing')")
            live.observe(call("ab02").call, NOW)
            await page.wait_for_selector("tr[data-call=ab02] form.listen input[name=purpose]")
            live.ended("ab01")
            await page.wait_for_selector("tr[data-call=ab01]", state="detached")
            assert await page.locator("tbody tr").count() == 1
        finally:
            await browser.close()
    # The browser's own request for /favicon.ico (the console has none) is no fault of
    # the page; a CSP violation or a script error would be.
    assert [p for p in problems if "favicon.ico" not in p] == []
