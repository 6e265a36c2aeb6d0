"""A change that comes while a dashboard's live stream is still connecting is not lost: the page
was drawn before it, the stream hears only what comes after it, so the page reads its live part
again once the stream is open (and again after every reconnect)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestServer
from playwright.async_api import expect

from appliance import keys
from appliance.people.staff import create_staff
from tests.browser import browser, staff_page  # noqa: F401
from tests.conftest import Api, add_station

PASSWORD = "a-good-admin-password"


async def test_a_change_while_the_stream_connects_reaches_the_dashboard(
        server: TestServer, api: Api, charger: Any, browser: Any) -> None:  # noqa: F811
    await server.app[keys.DATABASE].run(create_staff, "boss", "admin", PASSWORD)
    await add_station(api, "GAP-1")
    page = await staff_page(browser, server, "boss", PASSWORD)
    async with charger("GAP-1", "secret-pass-1") as gap:
        await gap.boot()
        await gap.status(1, "Available")
        # The page's stream waits (as on a slow network) until the change has happened.
        released = asyncio.Event()
        asked = asyncio.Event()

        async def hold(route: Any) -> None:
            asked.set()
            await released.wait()
            await route.continue_()

        await page.route("**/events", hold)
        await page.goto(str(server.make_url("/?show=charging")))
        assert await page.locator("article[data-station]").count() == 0
        await asyncio.wait_for(asked.wait(), 10)
        await page.evaluate("window.__marker = 1")  # gone if the page reloads
        await gap.status(1, "Charging")  # answered: recorded, its event gone to no stream
        released.set()
        await expect(page.locator('article[data-station="GAP-1"]')).to_be_visible(
            timeout=10_000)
        await expect(page.locator('#charger-kinds a[data-kind="charging"] .count')
                     ).to_have_text("1")
        assert await page.evaluate("window.__marker") == 1
    await page.context.close()
