"""Issue 21 in a real headless Chromium: for one session across 22:00, the QR page, the receipt
and the API's price preview show the same amounts (one price function), and the tariff page
shows who pays what where, the history and a worked example."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.people.staff import create_staff
from tests import browser as browser_fixtures
from tests.browser import PHONE, shoot
from tests.conftest import Api, add_station
from tests.driver_fixtures import PIN, driver_with_pin
from tests.money_fixtures import site_tariff
from tests.test_money_tariffs import OFF_PEAK, SITE_TZ, last_evening, meter_at, ocpp_time

browser = browser_fixtures.browser  # the playwright fixture


@pytest.fixture
async def server(start_app: Any, make_settings: Any) -> TestServer:
    return await start_app(make_settings(site_timezone=SITE_TZ))


def rupees(minor: int) -> str:
    return f"₹{minor // 100:,}.{minor % 100:02d}"


async def test_qr_page_receipt_and_preview_agree(server: TestServer, api: Api, charger: Any,
                                                 browser: Any) -> None:
    await add_station(api, "SAME-1")
    tariff = await site_tariff(api, energy_per_kwh="12.5", bands=[OFF_PEAK], min_to_start=0,
                               session_fee="5")
    driver = await driver_with_pin(server, api, "+91 98200 77777", balance=50_000,
                                   name="Kiran Rao")
    await api.post(f"/drivers/{driver['id']}/cards", {"id_tag": "SAME01", "mode": "commercial"})
    start = last_evening(21, 30)
    async with charger("SAME-1", "secret-pass-1") as cp:
        tx = (await cp.start_tx(1, "SAME01", meter_start=1_000,
                                timestamp=ocpp_time(start))).transaction_id
        await meter_at(cp, 1, tx, 5_000, start + timedelta(minutes=30))
        await cp.stop(tx, meter_stop=9_000, timestamp=ocpp_time(start + timedelta(hours=1)))
        await cp.status(1, "Available")  # the QR page knows the connector from its reports
    session = (await api.get("/sessions?station_id=SAME-1"))["items"][0]
    # The preview of the same session: 8 kWh evenly over the same hour from the same start.
    preview = await api.get(f"/stations/SAME-1/price?connector=1&at={ocpp_time(start)}"
                            "&energy_wh=8000&duration_s=3600")
    cost = preview["example"]["cost"]
    assert [(b["name"], b["energy_wh"], b["energy"]["amount"]) for b in cost["bands"]] == [
        ("", 4_000, 5_000), ("off-peak", 4_000, 3_200)]
    assert cost["fee"]["amount"] == session["fee"]["amount"] == 5_000 + 3_200 + 500

    context = await browser.new_context(viewport=PHONE, is_mobile=True)
    page = await context.new_page()
    await page.goto(str(server.make_url("/driver/login")))
    await page.fill("#identifier", "98200 77777")
    await page.fill("#pin", PIN)
    await page.click("button[type=submit]")
    await page.wait_for_url(lambda url: "/driver/login" not in url)
    # The QR page: the same unit prices and the same example as the preview for now.
    await page.goto(str(server.make_url("/c/SAME-1/1")))
    tariff_text = await page.locator(".d-tariff").text_content() or ""
    assert "₹12.50 per kWh" in tariff_text and "₹8.00 per kWh" in tariff_text
    # The same instant as the page's example: "from now" near a band's start moves by the second.
    shown_from = await page.locator("#price-example").get_attribute("data-from") or ""
    now_preview = await api.get(f"/stations/SAME-1/price?connector=1&at={shown_from}Z")
    example = await page.locator("#price-example").text_content() or ""
    assert rupees(now_preview["example"]["cost"]["fee"]["amount"]) in example
    now_price = now_preview["now"]["energy_per_kwh"]
    assert f"Now: ₹{float(now_price):.2f} per kWh" in (await page.locator("#price-now")
                                                         .text_content() or "")
    await shoot(page, "tariff-qr-page")
    # The receipt: the same total and the same band amounts.
    await page.goto(str(server.make_url(f"/me/receipts/{session['id']}")))
    await page.wait_for_selector("#total")
    assert await page.locator("#total").text_content() == rupees(cost["fee"]["amount"])
    lines = [(await row.text_content() or "") for row in
             await page.locator("tr.d-band-line").all()]
    assert len(lines) == 2
    assert rupees(5_000) in lines[0] and "4.00 kWh" in lines[0]
    assert rupees(3_200) in lines[1] and "off-peak" in lines[1]
    await shoot(page, "tariff-receipt")
    await context.close()

    # The tariff page: who pays what where, the history, the worked example.
    await server.app[keys.DATABASE].run(create_staff, "boss", "admin", "a-good-admin-password")
    await api.patch(f"/tariffs/{tariff['id']}", {"energy_per_kwh": "13"})
    staff = await browser.new_context(viewport={"width": 1280, "height": 900})
    admin = await staff.new_page()
    await admin.goto(str(server.make_url("/login")))
    await admin.fill("#username", "boss")
    await admin.fill("#password", "a-good-admin-password")
    await admin.click("button[type=submit]")
    await admin.wait_for_url(lambda url: "/login" not in url)
    await admin.goto(str(server.make_url("/tariffs")))
    assert "everyone" in (await admin.locator("#who-pays").text_content() or "")
    assert "Worked example: 30.00 kWh in 4 hours" in (
        await admin.locator(".worked-example").first.text_content() or "")
    assert "History (2 versions)" in await admin.content()
    # A manager adds a weekend band and gives the tariff to a fleet at this charger.
    form = admin.locator("form.card").first
    await form.locator("textarea[name=bands]").fill(
        "off-peak, all, 22:00-06:00, 8, 0\nweekend, weekend, 00:00-00:00, 10")
    await form.locator("input[name=assign]").check()
    await form.locator("input[name=assign_to]").fill("SAME-1")
    await form.locator("input[name=assign_group]").fill("Fleet")
    await form.locator("button[type=submit]").click()
    await admin.wait_for_selector("text=Tariff saved.")
    saved = await api.get(f"/tariffs/{tariff['id']}")
    assert [(b["name"], b["days"], b["energy_per_kwh"]) for b in saved["bands"]] == [
        ("off-peak", "all", "8"), ("weekend", "weekend", "10")]
    assert saved["version"] == 3
    who = await admin.locator("#who-pays tbody tr").first.text_content() or ""
    assert "fleet" in who and "SAME-1" in who
    await shoot(admin, "tariff-page")
    await staff.close()
