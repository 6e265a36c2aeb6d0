"""The screenshots issue 16 asks for, taken from a real site in a real Chromium: the dashboard
while charging, a charger's page, a session's page, the driver's live page and the sticker
sheet, into screenshots/ (README names them). Each shot is also a check that the page shows
what it should."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer
from playwright.async_api import expect

from appliance import keys
from appliance.db.site import refresh_site, save_site
from appliance.people.staff import create_staff
from tests.browser import PHONE, browser, shoot, shoot_both  # noqa: F401
from tests.conftest import Api
from tests.driver_fixtures import PIN, driver_with_pin, site_with_charger

PASSWORD = "a-good-screen-password"


async def test_screenshots_of_the_live_site(server: TestServer, api: Api, charger: Any,
                                            browser: Any) -> None:  # noqa: F811
    database = server.app[keys.DATABASE]
    await database.run(create_staff, "manager", "admin", PASSWORD)
    site = server.app[keys.SITE]
    refresh_site(site, await database.run(save_site, site, {
        "base_url": "http://192.168.1.20:8080", "site_name": "Riverside Charging",
        "timezone": "Asia/Kolkata"}, "test"))
    await site_with_charger(api, "RIVER-1", energy_per_kwh="18.5", session_fee="5")
    await driver_with_pin(server, api, "+91 98200 55501", balance=100_000, name="Meera Shah")
    card_driver = await api.post("/drivers", {"name": "Arjun Mehta", "phone": "+91 98200 55502"})
    await api.post(f"/drivers/{card_driver['id']}/cards", {"id_tag": "04A1B2C3",
                                                           "mode": "commercial"})
    await api.post(f"/drivers/{card_driver['id']}/topups", {"amount": 150_000, "method": "cash"})
    staff = await browser.new_context(viewport={"width": 1440, "height": 900})
    admin = await staff.new_page()
    await admin.goto(str(server.make_url("/login")))
    await admin.fill("#username", "manager")
    await admin.fill("#password", PASSWORD)
    await admin.click("button[type=submit]")
    phone_context = await browser.new_context(viewport=PHONE, device_scale_factor=2,
                                              is_mobile=True)
    phone = await phone_context.new_page()
    async with charger("RIVER-1", "secret-pass-1") as cp:
        await cp.boot()
        for n in (1, 2):
            await cp.status(n, "Available")
        card_tx = (await cp.start_tx(1, "04A1B2C3", meter_start=120_000)).transaction_id
        await cp.status(1, "Charging")
        await cp.meter(1, card_tx, 124_300, power_w=7200)
        # The driver starts connector 2 from the phone.
        await phone.goto(str(server.make_url("/c/RIVER-1/2")))
        await phone.fill("#identifier", "98200 55501")
        await phone.fill("#pin", PIN)
        await phone.click("button[type=submit]")
        await phone.click("#start")
        await phone.wait_for_selector("text=Plug in your car now")
        (sent,) = [kw for action, kw in cp.received if action == "RemoteStartTransaction"]
        qr_tx = (await cp.start_tx(2, sent["id_tag"], meter_start=50_000)).transaction_id
        await cp.status(2, "Charging")
        await cp.meter(2, qr_tx, 52_150, power_w=11_000)
        await expect(phone.locator("[data-field=energy]")).to_have_text("2.15")
        await shoot(phone, "driver-live-phone")
        await admin.goto(str(server.make_url("/")))
        await expect(admin.locator("#charging-now tr[data-session]")).to_have_count(2)
        await shoot_both(admin, "dashboard-charging")
        await admin.goto(str(server.make_url("/stations/RIVER-1")))
        await shoot_both(admin, "charger-page")
        await cp.meter(1, card_tx, 127_900, power_w=7100)
        await cp.stop(card_tx, 128_000)
    sessions = (await api.get(f"/sessions?driver_id={card_driver['id']}"))["items"]
    await admin.goto(str(server.make_url(f"/sessions/{sessions[0]['id']}")))
    assert "Arjun Mehta" in await admin.locator("#session-driver").text_content()
    await shoot_both(admin, "session-page")
    await admin.goto(str(server.make_url("/stickers")))
    await expect(admin.locator(".sticker")).to_have_count(2)
    await shoot(admin, "stickers-sheet")
    await phone_context.close()
    await staff.close()
