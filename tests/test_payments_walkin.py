"""The walk-in journey without a browser, against the providers' stand-ins: pay, the box asks
the provider (never trusting the redirect), books the payment on a guest account, holds it,
starts the charger, charges the fee at the end and gives the rest back: a Razorpay refund, or a
Stripe capture of the fee only."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from tests.conftest import Api, eventually
from tests.driver_fixtures import holds, ledger_true, site_with_charger
from tests.payments_fixtures import (
    WalkIn,
    enable_providers,
    money_rows,
    payments,
    razorpay,
    settings,
    stripe,
)
from tests.standin_razorpay import RazorpayStandin
from tests.standin_stripe import StripeStandin

__all__ = ["razorpay", "stripe", "settings"]  # fixtures this module uses


async def _walk_in(server: TestServer) -> Any:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def _charge(cp: Any, tag: str, wh: int) -> None:
    started = await cp.start_tx(1, tag, meter_start=1000)
    assert started.id_tag_info["status"] == "Accepted"
    await cp.meter(1, started.transaction_id, 1000 + wh // 2, power_w=7000)
    await cp.stop(started.transaction_id, meter_stop=1000 + wh, reason="EVDisconnected")


async def test_razorpay_upi_refunds_the_rest(server: TestServer, api: Api, charger: Any,
                                             razorpay: RazorpayStandin) -> None:
    await site_with_charger(api, "PAY-1")
    await enable_providers(server, "razorpay")
    async with charger("PAY-1", "secret-pass-1") as cp, await _walk_in(server) as session:
        phone = WalkIn(session, server)
        await cp.boot()
        await cp.status(1, "Preparing")
        status, where = await phone.checkout("PAY-1", 1, "razorpay", "200")
        assert status == 303 and where.startswith(razorpay.base + "/i/plink_"), where
        assert not [a for a, _ in cp.received if a == "RemoteStartTransaction"]
        assert await money_rows(server) == []  # nothing booked before the provider says so
        status, html, path = await phone.pay_hosted(where, f"/i/{where.rsplit('/', 1)[1]}/pay",
                                                    {"method": "upi"})
        assert path.startswith("/driver/starts/"), html[:500]
        (tag,) = [kw["id_tag"] for a, kw in cp.received if a == "RemoteStartTransaction"]
        await _charge(cp, tag, 3000)  # 3 kWh at 20.00 = 60.00
    async def refunded() -> bool:
        return (await payments(server))[0]["state"] == "done"

    await eventually(refunded)
    (payment_id,) = list(razorpay.payments)
    assert [r["amount"] for r in razorpay.refunds[payment_id]] == [14_000]
    assert await money_rows(server) == [
        ("topup", 20_000, "payment:razorpay"), ("hold", 20_000, "hold"),
        ("charge", -6_000, "charge"), ("release", -20_000, "release"),
        ("payout", -14_000, "refund:razorpay")]
    assert await holds(server) == [("released", 20_000)]
    await ledger_true(server)


async def test_stripe_card_captures_the_fee(server: TestServer, api: Api, charger: Any,
                                            stripe: StripeStandin) -> None:
    await site_with_charger(api, "PAY-2")
    await enable_providers(server, "stripe")
    async with charger("PAY-2", "secret-pass-1") as cp, await _walk_in(server) as session:
        phone = WalkIn(session, server)
        await cp.boot()
        await cp.status(1, "Available")
        status, where = await phone.checkout("PAY-2", 1, "stripe", "150")
        assert status == 303 and "/pay/cs_test_" in where, where
        status, html, path = await phone.pay_hosted(where, f"/pay/{where.rsplit('/', 1)[1]}",
                                                    {"card": "4242"})
        assert path.startswith("/driver/starts/"), html[:500]
        (tag,) = [kw["id_tag"] for a, kw in cp.received if a == "RemoteStartTransaction"]
        await _charge(cp, tag, 2000)  # 2 kWh at 20.00 = 40.00

    async def captured() -> bool:
        return (await payments(server))[0]["state"] == "done"

    await eventually(captured)
    (intent,) = stripe.intents.values()
    assert (intent["status"], intent["amount_received"]) == ("succeeded", 4_000)
    assert stripe.refunds == []  # the rest of the authorization was never taken
    assert await money_rows(server) == [
        ("topup", 15_000, "payment:stripe"), ("hold", 15_000, "hold"),
        ("charge", -4_000, "charge"), ("release", -15_000, "release"),
        ("payout", -11_000, "capture:stripe")]
    await ledger_true(server)
