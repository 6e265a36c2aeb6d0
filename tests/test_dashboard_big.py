"""The dashboard of a site bigger than one page, in a real browser: the counts are the whole
site's, the chargers needing a look come first, pages, kinds and the search pick the rest, and
a live change still arrives (on a filtered page too) without a reload."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer
from playwright.async_api import expect

from appliance import keys
from appliance.charging import admin
from appliance.people.staff import create_staff
from appliance.reports.overview import PER_PAGE
from tests.browser import browser, staff_page  # noqa: F401
from tests.conftest import Api, add_station

PASSWORD = "a-good-admin-password"
QUIET = PER_PAGE + 12  # registered, never connected: offline


def _quiet_stations() -> None:
    for n in range(1, QUIET + 1):
        admin.create_station(f"BIG-{n:03d}", {"description": f"Bay {n}"})


async def _count(page: Any, kind: str) -> int:
    text = await page.locator(f'#charger-kinds a[data-kind="{kind}"] .count').text_content()
    return int(text.strip())


async def _cards(page: Any) -> list[str]:
    return await page.locator("article[data-station]").evaluate_all(
        "cards => cards.map(c => c.dataset.station)")


async def test_dashboard_of_a_big_site_counts_pages_filters_and_stays_live(
        server: TestServer, api: Api, charger: Any, browser: Any) -> None:  # noqa: F811
    database = server.app[keys.DATABASE]
    await database.run(_quiet_stations)
    await database.run(create_staff, "boss", "admin", PASSWORD)
    await add_station(api, "LIVE-OK")
    await add_station(api, "LIVE-BAD")
    page = await staff_page(browser, server, "boss", PASSWORD)
    async with charger("LIVE-OK", "secret-pass-1") as ok, \
            charger("LIVE-BAD", "secret-pass-1") as bad:
        await ok.boot()
        await ok.status(1, "Available")
        await bad.boot()
        await bad.status(1, "Faulted", "GroundFailure")
        await page.goto(str(server.make_url("/")))
        # The counts are the whole site's, though one page shows PER_PAGE chargers.
        assert await _count(page, "all") == QUIET + 2
        assert await _count(page, "offline") == QUIET
        assert await _count(page, "faulted") == 1
        assert await _count(page, "idle") == 1
        assert await _count(page, "charging") == 0
        cards = await _cards(page)
        assert len(cards) == PER_PAGE
        assert cards[:3] == ["LIVE-BAD", "BIG-001", "BIG-002"]  # the faulted one first
        assert "GroundFailure" in await page.locator(
            'article[data-station="LIVE-BAD"]').text_content()
        # The second page: the rest of the offline ones, then the free one.
        await page.click('#charger-pages a[data-page="2"]')
        await page.wait_for_url("**page=2**")
        cards = await _cards(page)
        assert len(cards) == QUIET + 2 - PER_PAGE and cards[-1] == "LIVE-OK"
        assert cards[0] == f"BIG-{PER_PAGE:03d}"
        # A kind, then a search by id and by name.
        await page.click('#charger-kinds a[data-kind="faulted"]')
        await page.wait_for_url("**show=faulted**")
        assert await _cards(page) == ["LIVE-BAD"]
        assert await page.locator("#charger-pages").count() == 0
        await page.goto(str(server.make_url("/")))
        await page.fill("#q", "live-")
        await page.click("#charger-search button[type=submit]")
        await page.wait_for_url("**q=live-**")
        assert await _cards(page) == ["LIVE-BAD", "LIVE-OK"]
        assert await _count(page, "all") == QUIET + 2  # the counts stay the site's
        await page.fill("#q", "Bay 7")
        await page.click("#charger-search button[type=submit]")
        await page.wait_for_url("**q=Bay**")
        assert await _cards(page) == ["BIG-007"]
        await page.goto(str(server.make_url("/?q=nothing-like-it")))
        await expect(page.locator("#no-match")).to_be_visible()
        # Live on a filtered page: a charger that starts charging joins "in use" by itself.
        await page.goto(str(server.make_url("/?show=charging")))
        assert await _cards(page) == []
        await page.evaluate("window.__marker = 24")  # gone if the page reloads
        await ok.status(1, "Charging")
        await expect(page.locator('article[data-station="LIVE-OK"]')).to_be_visible(
            timeout=10_000)
        await expect(page.locator('#charger-kinds a[data-kind="charging"] .count')).to_have_text(
            "1")
        assert await _count(page, "idle") == 0
        assert await page.evaluate("window.__marker") == 24
    await page.context.close()


async def test_hours_today_shows_the_kept_figure_while_the_next_is_worked_out(
        server: TestServer, api: Api, charger: Any) -> None:
    import asyncio
    from zoneinfo import ZoneInfo

    from appliance.web.admin.dashboard import TodayFigures

    database, tz = server.app[keys.DATABASE], ZoneInfo("Asia/Kolkata")
    figures = TodayFigures(hours_every_s=0.0)  # every figure is old at once
    await add_station(api, "HRS-1")
    async with charger("HRS-1", "secret-pass-1") as cp:
        await cp.boot()
        await cp.status(1, "Charging")
        first = await figures.hours_today(database, tz)  # the day's first load waits for it
        await asyncio.sleep(0.05)
        assert await figures.hours_today(database, tz) == first  # shown again; the next comes
        refresh = figures.hours.refreshing(tz.key)
        assert refresh is not None
        await refresh
        assert await figures.hours_today(database, tz) > first  # charging went on meanwhile
        if (again := figures.hours.refreshing(tz.key)) is not None:
            await again  # the last get's own refresh, before the database closes
