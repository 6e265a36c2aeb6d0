"""Languages in a real browser (Debian's Chromium): a manager switches the site to Gujarati and
reads the dashboard, a charger and a report in it; a driver's phone guesses Gujarati from the
phone's language, the driver switches to Hindi, starts, stops and reads the receipt in Hindi;
the box's own Gujarati and Devanagari fonts draw the text (document.fonts). Screenshots of the
dashboard, the desk and the driver's start, live and receipt pages in gu and hi go to
screenshots/."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.db.models import Driver
from appliance.db.models_people import StaffUser
from appliance.people.staff import create_staff
from appliance.reports.nightly import run_day
from tests import browser as browser_fixtures
from tests.browser import DESKTOP, PHONE, shoot
from tests.conftest import Api, eventually
from tests.driver_fixtures import PIN, account, driver_with_pin, site_with_charger

browser = browser_fixtures.browser  # the playwright fixture
PASSWORD = "a-good-admin-password"
GUJARATI, DEVANAGARI, HAN = "Appliance Gujarati", "Appliance Devanagari", "Appliance Han"


async def fonts_drawn(page: Any, family: str, sample: str) -> bool:
    """The bundled face is loaded (not a system font) and covers the sample's glyphs."""
    loaded = await page.evaluate(
        "([family]) => [...document.fonts].filter(f => f.family.replaceAll('\"', '') === family"
        " && f.status === 'loaded').length", [family])
    await page.evaluate("() => document.fonts.ready")
    checked = await page.evaluate(
        "([font, text]) => document.fonts.check(font, text)", [f'16px "{family}"', sample])
    return bool(loaded) and bool(checked)


async def _admin(browser: Any, server: TestServer) -> Any:
    await server.app[keys.DATABASE].run(create_staff, "manager", "admin", PASSWORD)
    context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    page = await context.new_page()
    await page.goto(str(server.make_url("/login")))
    await page.fill("#username", "manager")
    await page.fill("#password", PASSWORD)
    await page.click("main button[type=submit]")
    await page.wait_for_selector("text=Dashboard")
    return page


async def test_manager_switches_the_site_to_gujarati(server: TestServer, api: Api, charger: Any,
                                                     browser: Any) -> None:
    await site_with_charger(api, "GJ-1")
    async with charger("GJ-1", "secret-pass-1") as cp:
        await cp.boot()
        await cp.status(1, "Charging")
        await cp.status(2, "Available")
        database, settings = server.app[keys.DATABASE], server.app[keys.SETTINGS]
        await run_day(database, settings, datetime.now(settings.tz).date(), mail=False)
        page = await _admin(browser, server)
        await page.goto(str(server.make_url("/settings")))
        await page.fill("#site_name", "સુરત ચાર્જિંગ સ્ટેશન")
        await page.select_option("#locale", "gu_IN")
        await page.click("main form button[type=submit]")
        await page.wait_for_selector("text=સેટિંગ સાચવ્યાં.")
        assert server.app[keys.SITE].locale == "gu_IN"

        await page.goto(str(server.make_url("/")))
        assert await page.get_attribute("html", "lang") == "gu"
        nav = await page.locator("header.top nav").text_content()
        assert "ડેશબોર્ડ" in nav and "ચાર્જર" in nav and "Dashboard" not in nav
        assert await page.locator('[data-connector="GJ-1/1"] .state').text_content() == \
            "ચાર્જ થાય છે"
        assert await fonts_drawn(page, GUJARATI, "સુરત ચાર્જિંગ")
        await cp.status(2, "Faulted")  # the live update speaks Gujarati too
        await page.wait_for_selector('[data-connector="GJ-1/2"] .state:text-is("ખામી")')
        await shoot(page, "i18n-gu-dashboard")

        await page.goto(str(server.make_url("/stations/GJ-1")))
        assert "ઓળખ" in await page.locator("main").text_content()
        assert "કમાન્ડ" in await page.locator("main").text_content()
        await shoot(page, "i18n-gu-charger")
        await page.goto(str(server.make_url("/reports")))
        await page.locator("main table a").first.click()
        main = await page.locator("main").text_content()
        assert "સાઇટનો કુલ" in main and "ચાર્જર મુજબ" in main
        await shoot(page, "i18n-gu-report")
        await page.goto(str(server.make_url("/desk")))
        assert "કાર્ડ" in await page.locator("main").text_content()
        await shoot(page, "i18n-gu-desk")

        # The manager's own choice wins over the site's, and stays with the login.
        await page.select_option("header.top #language", "hi")
        await page.click("header.top form.lang button")
        await page.wait_for_selector("header.top nav >> text=डैशबोर्ड")
        assert await fonts_drawn(page, DEVANAGARI, "डैशबोर्ड")
        await shoot(page, "i18n-hi-desk")
        await page.goto(str(server.make_url("/")))
        await shoot(page, "i18n-hi-dashboard")
        language = await database.read(
            lambda: StaffUser.get(StaffUser.username == "manager").language)
        assert language == "hi"
        await page.context.close()


async def test_driver_switches_to_hindi_and_charges(server: TestServer, api: Api, charger: Any,
                                                    browser: Any) -> None:
    await site_with_charger(api, "HI-7", energy_per_kwh="18.5", session_fee="5",
                            session_fee_min_wh=500)
    driver = await driver_with_pin(server, api, "+91 98200 33333", balance=50_000,
                                   name="मीरा शाह")
    # A Gujarati phone: the first guess is Gujarati, before any choice.
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                        locale="gu-IN")
    page = await context.new_page()
    url = lambda path: str(server.make_url(path))  # noqa: E731
    async with charger("HI-7", "secret-pass-1") as cp:
        await cp.boot()
        await cp.status(1, "Preparing")
        await page.goto(url("/c/HI-7/1"))
        assert await page.get_attribute("html", "lang") == "gu"
        assert "લૉગિન" in await page.locator("main").text_content()
        await page.click('.d-lang button[value="hi"]')
        await page.wait_for_selector('.d-lang button[value="hi"][aria-pressed="true"]')
        assert "लॉग इन" in await page.locator("main").text_content()
        await page.fill("#identifier", "98200 33333")
        await page.fill("#pin", PIN)
        await page.click("main button[type=submit]")
        await page.wait_for_selector("#start")
        assert await page.get_attribute("html", "lang") == "hi"
        assert "₹500.00" in await page.locator(".d-balance").text_content()
        assert "चार्जिंग शुरू करें" in await page.locator("#start").text_content()
        assert await fonts_drawn(page, DEVANAGARI, "चार्जिंग शुरू करें")
        assert await fonts_drawn(page, HAN, "简体中文")  # the switch's fourth name, too
        await shoot(page, "i18n-hi-driver-start")
        await page.click("#start")
        await page.wait_for_selector("text=अब कार में प्लग लगाएँ")

        (sent,) = [kw for action, kw in cp.received if action == "RemoteStartTransaction"]
        started = await cp.start_tx(1, sent["id_tag"], meter_start=1000)
        tx = started.transaction_id
        await cp.status(1, "Charging")
        await page.wait_for_selector("#stop")
        await cp.meter(1, tx, 3500, power_w=7200)
        await page.wait_for_selector('[data-field=energy]:text-is("2.50")', timeout=5000)
        assert await page.locator("[data-field=cost]").text_content() == "₹51.25"
        assert "चार्जिंग बंद करें" in await page.locator("#stop").text_content()
        await shoot(page, "i18n-hi-driver-live")
        await page.click("#stop")

        async def stop_sent() -> bool:
            return ("RemoteStopTransaction", {"transaction_id": tx}) in cp.received

        await eventually(stop_sent)
        await cp.stop(tx, meter_stop=5000, reason="Remote")
        await page.wait_for_selector("#receipt", state="visible", timeout=5000)
    live_url = page.url
    await page.click("#receipt")
    await page.wait_for_selector("#total")
    # 4 kWh at 18.50 = 74.00, plus the 5.00 session fee: 79.00.
    assert await page.locator("#total").text_content() == "₹79.00"
    text = await page.locator("main").text_content()
    assert "बाद का बैलेंस: ₹421.00" in text and "रसीद" in text and "कुल" in text
    assert "Balance after" not in text
    assert await fonts_drawn(page, DEVANAGARI, "रसीद")
    await shoot(page, "i18n-hi-driver-receipt")
    assert (await account(api, driver["id"]))["balance"] == 50_000 - 7_900
    language = await server.app[keys.DATABASE].read(
        lambda: Driver.get_by_id(driver["id"]).language)
    assert language == "hi"  # remembered on the account, for the next phone and the mails

    # The same pages in Gujarati, switched on the receipt, for the screenshots people check.
    receipt_url = page.url
    await page.click('.d-lang button[value="gu"]')
    await page.wait_for_selector('.d-lang button[value="gu"][aria-pressed="true"]')
    assert "રસીદ" in await page.locator("main").text_content()
    assert await fonts_drawn(page, GUJARATI, "રસીદ")
    await shoot(page, "i18n-gu-driver-receipt")
    assert page.url == receipt_url
    await page.goto(live_url)
    await shoot(page, "i18n-gu-driver-live")
    await page.goto(url("/c/HI-7/1"))
    await page.wait_for_selector("#start")
    assert "ચાર્જિંગ શરૂ કરો" in await page.locator("#start").text_content()
    await shoot(page, "i18n-gu-driver-start")
    await context.close()
