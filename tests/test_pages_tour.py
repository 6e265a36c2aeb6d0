"""The tour (issue 16): every staff page as an admin and as desk staff, at a 390 px phone and a
1440 px screen, in a real Chromium. A page fails the tour on a console error, a failed request,
a page wider than the screen, or a link on it that answers 4xx/5xx."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.db.site import refresh_site, save_site
from appliance.people.staff import create_staff
from tests.browser import DESKTOP, PHONE, browser  # noqa: F401
from tests.conftest import Api
from tests.driver_fixtures import PIN, driver_with_pin, site_with_charger

PASSWORD = "a-good-tour-password"
ADMIN_ONLY = ("/settings", "/staff", "/audit", "/reports", "/stickers", "/desk/learn")
NOT_LINKS = ("/logout", "/driver/logout")  # forms, not pages


async def _site(server: TestServer, api: Api, charger: Any) -> dict[str, Any]:
    """A site with something on every page: a charger with a finished and a running session,
    a driver with a top-up, a card, an unknown card."""
    await site_with_charger(api, "TOUR-1", energy_per_kwh="20")
    driver = await driver_with_pin(server, api, "+91 90000 00999", balance=80_000,
                                   name="Tour Driver")
    await api.post(f"/drivers/{driver['id']}/cards", {"id_tag": "TOUR-CARD", "mode": "commercial"})
    ledger = await api.get(f"/drivers/{driver['id']}/ledger")
    async with charger("TOUR-1", "secret-pass-1") as cp:
        await cp.boot()
        await cp.status(1, "Available")
        await cp.status(2, "Available")
        done = (await cp.start_tx(1, "TOUR-CARD", meter_start=0)).transaction_id
        await cp.meter(1, done, 1500, power_w=7000)
        await cp.stop(done, 3000)
        await cp.authorize("STRANGER1")
    sessions = (await api.get("/sessions"))["items"]
    site = server.app[keys.SITE]
    saved = await server.app[keys.DATABASE].run(
        save_site, site, {"base_url": "http://192.168.1.20:8080"}, "test")
    refresh_site(site, saved)  # the stickers print
    return {"driver": driver["id"], "entry": ledger["items"][0]["id"],
            "session": sessions[0]["id"]}


def _pages(ids: dict[str, Any]) -> list[str]:
    d = ids["driver"]
    return ["/", "/stations", "/stations/TOUR-1", "/desk", "/desk?id_tag=NEWCARD1",
            "/desk/learn", "/drivers", "/drivers/new", f"/drivers/{d}", f"/drivers/{d}/pin",
            f"/drivers/{d}/receipts/{ids['entry']}", "/cards", "/sessions",
            f"/sessions/{ids['session']}", "/tariffs", "/settings", "/staff", "/audit",
            "/reports", "/reports/summary", "/reports/summary?period=month",
            "/stickers", "/stickers/TOUR-1/1"]


class Watch:
    """What a page did wrong while it was open."""

    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("requestfailed", self._failed)
        page.on("pageerror", lambda err: self.problems.append(f"page error: {err}"))

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            self.problems.append(f"console: {msg.text} ({msg.location.get('url')})")

    def _failed(self, request: Any) -> None:
        # A live stream is cut when the page is left: that is not a failure of the page.
        if request.resource_type == "eventsource" or "/events" in request.url:
            return
        self.problems.append(f"request failed: {request.url} {request.failure}")


async def _links(page: Any) -> set[str]:
    hrefs = await page.evaluate(
        "Array.from(document.querySelectorAll('a[href]')).map(e => e.getAttribute('href'))")
    return {h for h in hrefs if h.startswith("/") and not h.startswith("//")
            and not h.startswith(NOT_LINKS)}


async def _tour(browser: Any, server: TestServer, user: str, pages: list[str],  # noqa: F811
                viewport: dict[str, int]) -> list[str]:
    context = await browser.new_context(viewport=viewport)
    page = await context.new_page()
    watch = Watch(page)
    await page.goto(str(server.make_url("/login")))
    await page.fill("#username", user)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(lambda url: "/login" not in url)
    checked: dict[str, int] = {}
    problems: list[str] = []
    for path in pages:
        response = await page.goto(str(server.make_url(path)))
        if response is None or response.status >= 400:
            problems.append(f"{path}: answered {response.status if response else None}")
        wide = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if wide > 0:
            problems.append(f"{path}: {wide} px wider than the {viewport['width']} px screen")
        for link in await _links(page):
            target = urljoin(path, link)
            if target not in checked:
                answer = await page.request.get(str(server.make_url(target)),
                                                max_redirects=0)
                checked[target] = answer.status
            if checked[target] >= 400:
                problems.append(f"{path}: link {link} answers {checked[target]}")
        problems.extend(f"{path}: {p}" for p in watch.problems)
        watch.problems.clear()
    await context.close()
    return problems


@pytest.mark.timeout(600)
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1440px"])
async def test_tour_every_page_as_admin_and_desk(server: TestServer, api: Api, charger: Any,
                                                 browser: Any,  # noqa: F811
                                                 viewport: dict[str, int]) -> None:
    database = server.app[keys.DATABASE]
    await database.run(create_staff, "tour-admin", "admin", PASSWORD)
    await database.run(create_staff, "tour-desk", "desk", PASSWORD)
    ids = await _site(server, api, charger)
    pages = _pages(ids)
    problems = await _tour(browser, server, "tour-admin", pages, viewport)
    desk_pages = [p for p in pages if not p.startswith(ADMIN_ONLY)]
    problems += [f"desk {p}" for p in await _tour(browser, server, "tour-desk", desk_pages,
                                                 viewport)]
    # The driver's pages on the same site, logged in with the PIN.
    problems += await _driver_tour(browser, server, viewport)
    assert not problems, "\n".join(problems)


async def _driver_tour(browser: Any, server: TestServer,  # noqa: F811
                       viewport: dict[str, int]) -> list[str]:
    context = await browser.new_context(viewport=viewport)
    page = await context.new_page()
    watch = Watch(page)
    problems: list[str] = []
    await page.goto(str(server.make_url("/c/TOUR-1/2")))
    await page.fill("#identifier", "90000 00999")
    await page.fill("#pin", PIN)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#start")
    for path in ("/c/TOUR-1/2", "/me", "/me/pin"):
        response = await page.goto(str(server.make_url(path)))
        if response is None or response.status >= 400:
            problems.append(f"driver {path}: answered {response.status if response else None}")
        wide = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if wide > 0:
            problems.append(f"driver {path}: {wide} px too wide")
        for link in await _links(page):
            answer = await page.request.get(str(server.make_url(urljoin(path, link))),
                                            max_redirects=0)
            if answer.status >= 400:
                problems.append(f"driver {path}: link {link} answers {answer.status}")
        problems.extend(f"driver {path}: {p}" for p in watch.problems)
        watch.problems.clear()
    await context.close()
    assert urlsplit(page.url).path
    return problems
