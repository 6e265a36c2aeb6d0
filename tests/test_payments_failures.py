"""Every way a walk-in payment goes wrong ends with the money right, checked in the ledger and at
the provider's stand-in: abandoned checkout, charger refusing, car never plugged in, the box
restarting between payment and start, a webhook before the redirect and replayed, a bad
signature, an amount or currency that is not what was asked, a refund that fails for a while."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.billing import walkin, walkin_returns
from appliance.db.models import utcnow
from appliance.db.models_payments import OnlinePayment, WebhookEvent
from appliance.web.driver import start as driver_start
from tests.conftest import Api, eventually
from tests.driver_fixtures import holds, ledger_true, site_with_charger
from tests.payments_fixtures import (
    WalkIn,
    enable_providers,
    money_rows,
    payments,
    post_webhook,
    razorpay,
    settings,
    stripe,
)
from tests.standin_razorpay import RazorpayStandin
from tests.standin_stripe import StripeStandin
from tests.test_driver_failures import _answer_remote_start

__all__ = ["razorpay", "stripe", "settings"]

WHOLE_REFUND = [("topup", 20_000, "payment:razorpay"), ("payout", -20_000, "refund:razorpay")]
HELD_THEN_REFUNDED = [("topup", 20_000, "payment:razorpay"), ("hold", 20_000, "hold"),
                      ("release", -20_000, "release"), ("payout", -20_000, "refund:razorpay")]


async def _ready(server: TestServer, api: Api, cpid: str) -> None:
    await site_with_charger(api, cpid)
    await enable_providers(server, "razorpay", "stripe")


def _browser() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


@asynccontextmanager
async def _online(charger: Any, cpid: str) -> AsyncIterator[Any]:
    async with charger(cpid, "secret-pass-1") as cp:
        await cp.status(1, "Available")
        yield cp


def _token(payment_id: int = 1) -> str:
    return str(OnlinePayment.get_by_id(payment_id).token)


async def token(server: TestServer) -> str:
    return await server.app[keys.DATABASE].read(_token)


async def _settled(server: TestServer, state: str = "done") -> None:
    async def reached() -> bool:
        return [p["state"] for p in await payments(server)] == [state]

    await eventually(reached)


def _link(where: str) -> str:
    return where.rsplit("/", 1)[1]


async def test_abandoned_checkout_takes_nothing(server: TestServer, api: Api, charger: Any,
                                                razorpay: RazorpayStandin,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    await _ready(server, api, "AB-1")
    async with _online(charger, "AB-1"), \
            _browser() as session:
        phone = WalkIn(session, server)
        _, where = await phone.checkout("AB-1", 1, "razorpay", "200")
        # Back from the provider without paying: the page says nothing was taken.
        _, html, _ = await phone.get(f"/pay/{await token(server)}/cancel")
        assert "Waiting for the payment provider" in html
        monkeypatch.setattr(walkin, "PAY_WINDOW", walkin.PAY_WINDOW * 0)
        await _settled(server, "abandoned")
        assert razorpay.links[_link(where)]["status"] == "cancelled"  # no late payment on it
        _, html, _ = await phone.get(f"/pay/{await token(server)}")
        assert "Nothing was taken" in html
        _, html, _ = await phone.get("/c/AB-1/1")  # the connector is free again
        assert "pay-razorpay" in html
    assert await money_rows(server) == [] and await holds(server) == []


async def test_charger_refuses_full_refund(server: TestServer, api: Api, charger: Any,
                                           razorpay: RazorpayStandin) -> None:
    await _ready(server, api, "RF-1")
    async with _online(charger, "RF-1") as cp, \
            _browser() as session:
        _answer_remote_start(cp, "Rejected")
        phone = WalkIn(session, server)
        _, where = await phone.checkout("RF-1", 1, "razorpay", "200")
        _, html, path = await phone.pay_hosted(where, f"/i/{_link(where)}/pay", {})
        assert "The charger refused to start" in html
        await _settled(server)
        _, html, _ = await phone.get(path)
        assert "went back to your payment method" in html
    assert await money_rows(server) == HELD_THEN_REFUNDED
    (refunds,) = razorpay.refunds.values()
    assert [r["amount"] for r in refunds] == [20_000]
    await ledger_true(server)


async def test_never_plugged_in_full_refund(server: TestServer, api: Api, charger: Any,
                                            razorpay: RazorpayStandin,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(driver_start, "START_MARGIN_S", 0.2)
    await _ready(server, api, "NP-1")
    async with _online(charger, "NP-1") as cp, \
            _browser() as session:
        cp.configuration["ConnectionTimeOut"] = "0"
        phone = WalkIn(session, server)
        _, where = await phone.checkout("NP-1", 1, "razorpay", "200")
        _, html, _ = await phone.pay_hosted(where, f"/i/{_link(where)}/pay", {})
        assert "Plug in your car" in html
        await _settled(server)
    assert await money_rows(server) == HELD_THEN_REFUNDED
    await ledger_true(server)


async def test_webhook_first_then_redirect_then_replay(server: TestServer, api: Api,
                                                       charger: Any,
                                                       razorpay: RazorpayStandin) -> None:
    await _ready(server, api, "WH-1")
    async with _online(charger, "WH-1") as cp, \
            _browser() as session:
        phone = WalkIn(session, server)
        _, where = await phone.checkout("WH-1", 1, "razorpay", "200")
        razorpay.pay(_link(where))  # paid; the phone has not come back yet
        body, headers = razorpay.webhook(_link(where), event_id="evt_once")
        assert await post_webhook(server, "razorpay", body, headers) == 200
        starts = [kw for a, kw in cp.received if a == "RemoteStartTransaction"]
        assert len(starts) == 1  # the webhook booked, held and started
        assert await post_webhook(server, "razorpay", body, headers) == 200  # a replay
        _, html, path = await phone.get(f"/pay/{await token(server)}/return")
        assert path.split("/")[-2:-1] == ["starts"] and "Plug in your car" in html
        assert len([a for a, _ in cp.received if a == "RemoteStartTransaction"]) == 1
        await cp.start_tx(1, starts[0]["id_tag"], meter_start=0)
    rows = await money_rows(server)
    assert rows == [("topup", 20_000, "payment:razorpay"), ("hold", 20_000, "hold")]
    assert await server.app[keys.DATABASE].read(lambda: WebhookEvent.select().count()) == 1


@pytest.mark.parametrize("provider", ["razorpay", "stripe"])
async def test_bad_signature_is_refused_and_logged(server: TestServer, api: Api,
                                                   charger: Any, razorpay: RazorpayStandin,
                                                   stripe: StripeStandin, provider: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    await _ready(server, api, "SG-1")
    async with _online(charger, "SG-1"), _browser() as session:
        phone = WalkIn(session, server)
        _, where = await phone.checkout("SG-1", 1, provider, "200")
    if provider == "razorpay":
        razorpay.pay(_link(where))
        body, headers = razorpay.webhook(_link(where), secret="not-the-secret")
    else:
        stripe.pay(_link(where))
        body, headers = stripe.webhook(_link(where), secret="not-the-secret")
    assert await post_webhook(server, provider, body, headers) == 400
    if provider == "stripe":  # a good signature on an old delivery is a replay: refused too
        old = stripe.webhook(_link(where), at=1_600_000_000)
        assert await post_webhook(server, provider, *old) == 400
    assert "webhook refused" in caplog.text
    assert [p["state"] for p in await payments(server)] == ["created"]  # nothing booked
    assert await money_rows(server) == []


async def test_amount_mismatch_is_given_back_whole(server: TestServer, api: Api, charger: Any,
                                                   razorpay: RazorpayStandin) -> None:
    await _ready(server, api, "MM-1")
    async with _online(charger, "MM-1") as cp, \
            _browser() as session:
        phone = WalkIn(session, server)
        _, where = await phone.checkout("MM-1", 1, "razorpay", "250")
        razorpay.pay(_link(where), amount=20_000)
        _, html, _ = await phone.get(f"/pay/{await token(server)}/return")
        assert "not the amount asked" in html
        assert not [a for a, _ in cp.received if a == "RemoteStartTransaction"]
        await _settled(server)
    assert await money_rows(server) == WHOLE_REFUND
    await ledger_true(server)


async def test_currency_mismatch_is_given_back_and_shown(server: TestServer, api: Api,
                                                         charger: Any,
                                                         razorpay: RazorpayStandin) -> None:
    await _ready(server, api, "MM-2")
    async with _online(charger, "MM-2"), _browser() as session:
        phone = WalkIn(session, server)
        _, where = await phone.checkout("MM-2", 1, "razorpay", "200")
        razorpay.pay(_link(where), currency="USD")
        _, html, _ = await phone.get(f"/pay/{await token(server)}/return")
        assert "Paid in USD" in html
        await _settled(server)
    (refunds,) = razorpay.refunds.values()
    assert [r["amount"] for r in refunds] == [20_000]
    assert await money_rows(server) == []  # never the site's money: nothing to book


async def test_failing_refund_is_retried_and_shown_to_staff(
        server: TestServer, api: Api, charger: Any, razorpay: RazorpayStandin,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(walkin, "RETRY_FIRST_S", 0.2)
    await _ready(server, api, "RT-1")
    razorpay.fail_refunds = 2
    async with _online(charger, "RT-1") as cp, \
            _browser() as session:
        _answer_remote_start(cp, "Rejected")
        phone = WalkIn(session, server)
        _, where = await phone.checkout("RT-1", 1, "razorpay", "200")
        await phone.pay_hosted(where, f"/i/{_link(where)}/pay", {})

        async def failed_once() -> bool:
            return (await payments(server))[0]["attempts"] >= 1

        await eventually(failed_once)
        staff = await server.app[keys.DATABASE].read(walkin.for_staff)
        assert staff and "500" in str(staff[0]["last_error"])
        await _settled(server)
    assert (await payments(server))[0]["attempts"] == 2
    assert await money_rows(server) == HELD_THEN_REFUNDED
    assert await server.app[keys.DATABASE].read(walkin.for_staff) == []


async def test_paid_while_the_box_was_down_is_reconciled_at_start(
        server: TestServer, api: Api, charger: Any, razorpay: RazorpayStandin, start_app: Any,
        settings: Any) -> None:
    """Paid at the provider, but the box went down before it heard of it: the first round
    after the restart asks the provider, books the payment and gives it back whole."""
    await _ready(server, api, "RS-1")
    async with _online(charger, "RS-1"), _browser() as session:
        _, where = await WalkIn(session, server).checkout("RS-1", 1, "razorpay", "200")
    await server.close()
    razorpay.pay(_link(where))
    again = await start_app(settings)
    await _settled(again)
    assert await money_rows(again) == WHOLE_REFUND
    await ledger_true(again)
    await again.close()


async def test_reconcile_round_directly(server: TestServer, api: Api, charger: Any,
                                        razorpay: RazorpayStandin) -> None:
    """The start-up round by itself: a paid checkout the box never confirmed."""
    await _ready(server, api, "RS-2")
    async with _online(charger, "RS-2"), _browser() as session:
        _, where = await WalkIn(session, server).checkout("RS-2", 1, "razorpay", "200")
    razorpay.pay(_link(where))
    app = server.app
    await walkin_returns.tick(app[keys.DATABASE], app[keys.PAYMENTS], utcnow(), True)
    await _settled(server)
    assert await money_rows(server) == WHOLE_REFUND
