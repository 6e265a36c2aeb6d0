"""Admin pages in a real browser: login, the live dashboard, a charger page."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.people.staff import create_staff
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
            " === 'Charging'", timeout=15_000)
        assert await page.evaluate("window.__marker") == 42
        await shoot_both(page, "dashboard")
        await page.goto(str(server.make_url("/stations/LIVE-1")))
        assert "TestVendor" in await page.content()
        await shoot_both(page, "charger")


async def test_desk_flow_driver_card_topup_session(server: TestServer, api: Api, charger: Any,
                                                   admin_page: Any) -> None:
    """Register a driver, bind a card, top up, charge; the fee shows on the driver's spending
    records and the energy on the charger's day row."""
    page = admin_page
    await add_station(api, "DESK-1")
    tariff = await api.post("/tariffs", {"name": "Standard", "energy_per_kwh": "20",
                                         "tax_rate": "0.18"})
    await api.post(f"/tariffs/{tariff['id']}/assignments", {"station_id": None})
    await page.goto(str(server.make_url("/drivers/new")))
    await page.fill("#name", "Asha Patel")
    await page.fill("#phone", "+91 98765 43210")
    await page.fill("#tapped-tag", "04A1B2C3")
    await page.click("main form button[type=submit]")
    await page.wait_for_url("**/drivers/*")
    driver_url = page.url
    assert "04A1B2C3" in await page.locator("#driver-cards").text_content()
    await page.fill("#amount", "500")
    await page.select_option("#method", "cash")
    await page.fill("#receipt_no", "R-001")
    await page.click("#topup button[type=submit]")
    await page.wait_for_url("**/receipts/*")
    assert "₹500.00" in await page.locator("#receipt-amount").text_content()
    await shoot_both(page, "topup-receipt")
    async with charger("DESK-1", "secret-pass-1") as cp:
        await cp.boot()
        await cp.status(1, "Preparing")
        assert (await cp.authorize("04a1b2c3"))["status"] == "Accepted"
        started = await cp.start_tx(1, "04A1B2C3", 10_000)
        await cp.meter(1, started.transaction_id, 12_000, power_w=7000)
        await cp.stop(started.transaction_id, 15_000)
    await page.goto(driver_url)
    ledger = await page.locator("#ledger").text_content()
    assert "charging fee" in ledger and "₹100.00" in ledger  # 5 kWh at 20 per kWh
    assert "₹400.00" in await page.locator("#balance").text_content()
    await shoot_both(page, "driver")
    await page.goto(str(server.make_url("/stations/DESK-1")))
    today_row = await page.locator("#days tbody tr").first.text_content()
    assert "5.00" in today_row and "₹100.00" in today_row  # energy and the fee posted today
    await page.goto(str(server.make_url("/sessions")))
    await shoot_both(page, "sessions")
    await page.goto(str(server.make_url("/tariffs")))
    await shoot_both(page, "tariffs")


async def test_desk_role_refused_on_admin_pages_in_browser(server: TestServer,
                                                           browser: Any) -> None:
    await server.app[keys.DATABASE].run(create_staff, "desk1", "desk", "desk-password-1")
    page = await _login(browser, server, "desk1", "desk-password-1")
    for path in ("/staff", "/audit", "/settings"):
        response = await page.goto(str(server.make_url(path)))
        assert response.status == 403
    response = await page.goto(str(server.make_url("/drivers")))
    assert response.status == 200
    await page.context.close()
