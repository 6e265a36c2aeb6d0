"""The walk-in journey in a real headless Chromium at phone size (390 x 844), against the
providers' stand-ins: scan, type an amount, pay (Razorpay UPI; a Stripe card authorized, then
captured for the fee), back on the box's live page, the charger starts and stops, the rest goes
back by itself. Screenshots go to screenshots/walkin-*.png."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer

from tests import browser as browser_fixtures
from tests.browser import PHONE, shoot
from tests.conftest import Api, eventually
from tests.driver_fixtures import ledger_true, site_with_charger
from tests.payments_fixtures import (
    enable_providers,
    money_rows,
    payments,
    razorpay,
    settings,
    stripe,
)
from tests.standin_razorpay import RazorpayStandin
from tests.standin_stripe import StripeStandin

browser = browser_fixtures.browser
__all__ = ["browser", "razorpay", "stripe", "settings"]


async def _journey(server: TestServer, api: Api, charger: Any, browser: Any, cpid: str,
                   provider: str, pay_button: str) -> None:
    await site_with_charger(api, cpid)
    await enable_providers(server, provider)
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    page = await context.new_page()
    async with charger(cpid, "secret-pass-1") as cp:
        await cp.boot()
        await cp.status(1, "Preparing")
        await page.goto(str(server.make_url(f"/c/{cpid}/1")))
        await page.fill("#pay-limit", "200")
        await shoot(page, f"walkin-{provider}-scan")
        await page.click(f"#pay-{provider}")
        await page.wait_for_selector(pay_button)  # the provider's own page
        await page.click(pay_button)
        await page.wait_for_selector("text=Plug in your car now")
        await shoot(page, f"walkin-{provider}-live")
        (sent,) = [kw for action, kw in cp.received if action == "RemoteStartTransaction"]
        started = await cp.start_tx(1, sent["id_tag"], meter_start=0)
        await cp.meter(1, started.transaction_id, 1500, power_w=7000)
        await page.wait_for_selector("#stop:visible")
        await cp.stop(started.transaction_id, meter_stop=3000, reason="EVDisconnected")
        await page.wait_for_selector("text=Finished. You can unplug.")

    async def given_back() -> bool:
        return [p["state"] for p in await payments(server)] == ["done"]

    await eventually(given_back)
    await page.reload()
    assert "₹140.00 went back to your payment method" in await page.content()
    await shoot(page, f"walkin-{provider}-done")
    await page.click("#receipt")
    await page.wait_for_selector("text=₹60.00")
    await shoot(page, f"walkin-{provider}-receipt")
    await context.close()
    await ledger_true(server)


async def test_razorpay_upi_in_a_phone(server: TestServer, api: Api, charger: Any,
                                       browser: Any, razorpay: RazorpayStandin) -> None:
    await _journey(server, api, charger, browser, "WEB-1", "razorpay", "#upi")
    (payment,) = razorpay.payments.values()
    assert payment["method"] == "upi" and payment["amount_refunded"] == 14_000
    assert [r[0] for r in await money_rows(server)][-1] == "payout"


async def test_stripe_card_in_a_phone(server: TestServer, api: Api, charger: Any,
                                      browser: Any, stripe: StripeStandin) -> None:
    await _journey(server, api, charger, browser, "WEB-2", "stripe", "#pay")
    (intent,) = stripe.intents.values()
    assert (intent["status"], intent["amount_received"]) == ("succeeded", 6_000)
    assert stripe.refunds == []
