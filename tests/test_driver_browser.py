"""The drivers' pages in a real headless Chromium at phone size (390 x 844): scan the code, log
in, start; the simulated charger accepts, is plugged in and starts with the tag it was sent,
reports meter values; the live page follows without a reload; Stop; the receipt shows the cost
and the balance fell by exactly that. Screenshots go to screenshots/driver-*.png."""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.people.staff import create_staff
from tests import browser as browser_fixtures
from tests.browser import PHONE, SCREENSHOTS, shoot
from tests.conftest import Api, eventually
from tests.driver_fixtures import PIN, account, driver_with_pin, ledger_true, site_with_charger

browser = browser_fixtures.browser  # the playwright fixture


async def _decode(png: str) -> str:
    """What a real QR reader (zbar) reads from the printed code."""
    proc = await asyncio.create_subprocess_exec("zbarimg", "--raw", "-q", png,
                                                stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    return out.decode().strip()


async def test_phone_start_watch_stop_receipt(server: TestServer, api: Api, charger: Any,
                                              browser: Any) -> None:
    await site_with_charger(api, "SITE-7", energy_per_kwh="18.5", session_fee="5",
                            session_fee_min_wh=500)
    driver = await driver_with_pin(server, api, "+91 98200 12345", balance=50_000,
                                   name="Meera Shah")
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    page = await context.new_page()
    url = lambda path: str(server.make_url(path))  # noqa: E731
    async with charger("SITE-7", "secret-pass-1") as cp:
        await cp.boot()
        await cp.status(1, "Preparing")
        await page.goto(url("/c/SITE-7/1"))  # what the QR code says
        assert await page.locator(".d-cpid").text_content() == "SITE-7"
        await shoot(page, "driver-scan")
        await page.fill("#identifier", "98200 12345")
        await page.fill("#pin", PIN)
        await page.click("button[type=submit]")
        await page.wait_for_selector("#start")
        assert "₹500.00" in await page.locator(".d-balance").text_content()
        await shoot(page, "driver-start")
        await page.click("#start")
        await page.wait_for_selector("text=Plug in your car now")
        await shoot(page, "driver-live-waiting")

        (sent,) = [kw for action, kw in cp.received if action == "RemoteStartTransaction"]
        started = await cp.start_tx(1, sent["id_tag"], meter_start=1000)
        tx = started.transaction_id
        await cp.status(1, "Charging")
        await page.wait_for_selector("#stop")
        await page.evaluate("window.__marker = 42")  # gone if the page reloads
        await cp.meter(1, tx, 3500, power_w=7200)
        # A selector, not wait_for_function: the pages' CSP forbids the eval that would need.
        await page.wait_for_selector('[data-field=energy]:text-is("2.50")', timeout=5000)
        assert await page.locator("[data-field=power]").text_content() == "7.2"
        assert await page.locator("[data-field=cost]").text_content() == "₹51.25"
        assert await page.evaluate("window.__marker") == 42
        await shoot(page, "driver-live-charging")

        await page.click("#stop")

        async def stop_sent() -> bool:
            return ("RemoteStopTransaction", {"transaction_id": tx}) in cp.received

        await eventually(stop_sent)
        await cp.stop(tx, meter_stop=5000, reason="Remote")
        await page.wait_for_selector("#receipt", state="visible", timeout=5000)
        await shoot(page, "driver-live-finished")
    # 4 kWh at 18.50 = 74.00, plus the 5.00 session fee: 79.00.
    await page.click("#receipt")
    await page.wait_for_selector("#total")
    assert await page.locator("#total").text_content() == "₹79.00"
    assert "Balance after: ₹421.00" in await page.content()
    await shoot(page, "driver-receipt")
    assert (await account(api, driver["id"]))["balance"] == 50_000 - 7_900
    await page.goto(url("/me"))
    assert await page.locator("#balance").text_content() == "₹421.00"
    await shoot(page, "driver-me")
    await ledger_true(server)
    await context.close()


async def test_phone_pages_refuse_and_explain(server: TestServer, api: Api, charger: Any,
                                              browser: Any) -> None:
    await site_with_charger(api, "SITE-8")
    await driver_with_pin(server, api, "+91 98200 55555", balance=1_000)
    context = await browser.new_context(viewport=PHONE, is_mobile=True)
    page = await context.new_page()
    async with charger("SITE-8", "secret-pass-1") as cp:
        await cp.boot()
        await cp.status(1, "Available")
        await page.goto(str(server.make_url("/driver/login")))
        await page.fill("#identifier", "9820055555")
        await page.fill("#pin", "0000")
        await page.click("button[type=submit]")
        await page.wait_for_selector("text=wrong PIN")
        await shoot(page, "driver-login-wrong")
        await page.fill("#identifier", "9820055555")
        await page.fill("#pin", PIN)
        await page.click("button[type=submit]")
        await page.goto(str(server.make_url("/c/SITE-8/1")))
        await page.click("#start")
        await page.wait_for_selector("text=balance is too low")
        await shoot(page, "driver-start-refused")
    await context.close()


async def test_sticker_sheet(server: TestServer, api: Api, charger: Any, browser: Any) -> None:
    await site_with_charger(api, "SITE-9")
    await server.app[keys.DATABASE].run(create_staff, "boss", "admin", "a-good-admin-pw")
    async with charger("SITE-9", "secret-pass-1") as cp:
        await cp.boot()
        await cp.status(2, "Available")
    context = await browser.new_context(viewport={"width": 1000, "height": 1400})
    page = await context.new_page()
    await page.goto(str(server.make_url("/login")))
    await page.fill("#username", "boss")
    await page.fill("#password", "a-good-admin-pw")
    await page.click("button[type=submit]")
    await page.goto(str(server.make_url("/settings")))  # the address phones reach the box at
    await page.fill("#base_url", "http://192.168.1.20:8080")
    await page.click("main form button[type=submit]")
    await page.goto(str(server.make_url("/stickers")))
    await page.fill("input[name=wifi_ssid]", "Site-Guest")
    await page.fill("input[name=wifi_password]", "charge-here")
    await page.click("text=Show")
    await page.wait_for_selector('[data-sticker="SITE-9/2"]')
    text = await page.locator('[data-sticker="SITE-9/2"] .s-url').text_content()
    assert text == "http://192.168.1.20:8080/c/SITE-9/2"
    assert await page.locator('[data-sticker="SITE-9/1"] svg').count() == 2  # start + Wi-Fi
    await shoot(page, "driver-qr-stickers")
    if shutil.which("zbarimg") is None:
        pytest.skip("zbar-tools is not installed (scripts/test.sh installs it)")
    png = str(SCREENSHOTS / "driver-qr-code.png")
    await page.locator('[data-sticker="SITE-9/2"] figure').first.locator("svg").screenshot(path=png)
    assert await _decode(png) == text
    await context.close()
