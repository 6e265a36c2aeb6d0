"""Admin pages in a real browser: login, the live dashboard, a charger page."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.web.staff import create_staff
from tests.browser import browser, shoot, shoot_both  # noqa: F401
from tests.conftest import Api, add_station

ADMIN_PASSWORD = "a-good-admin-password"


async def _login(browser: Any, server: TestServer, user: str, password: str) -> Any:
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    await page.goto(str(server.make_url("/login")))
    await page.fill("#username", user)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    return page


@pytest.fixture
async def admin_page(server: TestServer, browser: Any) -> Any:
    await server.app[keys.DATABASE].run(create_staff, "boss", "admin", ADMIN_PASSWORD)
    page = await _login(browser, server, "boss", ADMIN_PASSWORD)
    yield page
    await page.context.close()


async def test_dashboard_goes_live_without_reload(server: TestServer, api: Api, charger: Any,
                                                  admin_page: Any) -> None:
    page = admin_page
    await add_station(api, "LIVE-1")
    async with charger("LIVE-1", "secret-pass-1") as cp:
        await cp.boot()
        await cp.status(1, "Available")
        await page.goto(str(server.make_url("/")))
        state = page.locator('[data-connector="LIVE-1/1"] .state').first
        assert await state.text_content() == "Available"
        await page.evaluate("window.__marker = 42")  # gone if the page reloads
        await cp.status(1, "Charging")
        await page.wait_for_function(
            "document.querySelector('[data-connector=\"LIVE-1/1\"] .state').textContent"
            " === 'Charging'", timeout=5000)
        assert await page.evaluate("window.__marker") == 42
        await shoot_both(page, "dashboard")
        await page.goto(str(server.make_url("/stations/LIVE-1")))
        assert "TestVendor" in await page.content()
        await shoot_both(page, "charger")
