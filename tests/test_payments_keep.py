"""Money after the walk-in: a signed-in driver pays one session online and keeps what it did
not use as balance (booked on their own account, nothing refunded by Razorpay, the Stripe
authorization captured whole); a guest whose fee came to more than the payment (the debt stays
on the guest account, shown to staff, and nothing more is taken than the provider authorized);
the nightly report's online money by method, reconciled with the providers' records."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.db.models_reports import DailyReport
from appliance.reports.nightly import run_day
from tests.conftest import Api, eventually
from tests.driver_fixtures import CSRF, driver_with_pin, ledger_true, phone, site_with_charger
from tests.payments_fixtures import (
    WalkIn,
    enable_providers,
    money_rows,
    payments,
    razorpay,
    settings,
    stripe,
)
from tests.staff_client import staff_client
from tests.standin_razorpay import RazorpayStandin
from tests.standin_stripe import StripeStandin

__all__ = ["razorpay", "stripe", "settings"]  # fixtures this module uses


async def _charge(cp: Any, tag: str, wh: int) -> None:
    started = await cp.start_tx(1, tag, meter_start=1000)
    assert started.id_tag_info["status"] == "Accepted"
    await cp.stop(started.transaction_id, meter_stop=1000 + wh, reason="EVDisconnected")


async def _done(server: TestServer) -> None:
    async def done() -> bool:
        return [p["state"] for p in await payments(server)] == ["done"]

    await eventually(done)


@pytest.mark.parametrize("provider", ["razorpay", "stripe"])
async def test_signed_in_driver_keeps_the_rest(server: TestServer, api: Api, charger: Any,
                                               razorpay: RazorpayStandin,
                                               stripe: StripeStandin, provider: str) -> None:
    await site_with_charger(api, "KEEP-1")
    await enable_providers(server, provider)
    driver = await driver_with_pin(server, api, "+91 90000 00071", balance=1_000)
    async with charger("KEEP-1", "secret-pass-1") as cp, phone(server) as p:
        await cp.boot()
        await cp.status(1, "Available")
        await p.login("9000000071")
        _, html, _ = await p.get("/c/KEEP-1/1")
        assert 'id="pay-online"' in html and 'name="keep_rest"' in html
        async with p.session.post(p.url("/c/KEEP-1/1/pay"), allow_redirects=False, data={
                "csrf_token": CSRF.search(html)[1], "provider": provider,
                "limit_kind": "amount", "limit": "200", "keep_rest": "on"}) as resp:
            assert resp.status == 303, await resp.text()
            where = resp.headers["Location"]
        checkout = where.rsplit("/", 1)[1]
        if provider == "razorpay":
            pay_url, form = f"{razorpay.base}/i/{checkout}/pay", {"method": "upi"}
        else:
            pay_url, form = f"{stripe.base}/pay/{checkout}", {"card": "4242"}
        async with p.session.post(pay_url, data=form) as resp:
            assert resp.url.path.startswith("/driver/starts/"), (await resp.text())[:400]
        (tag,) = [kw["id_tag"] for a, kw in cp.received if a == "RemoteStartTransaction"]
        await _charge(cp, tag, 3_000)  # 3 kWh at 20.00 = 60.00
        await _done(server)
        _, html, _ = await p.get("/me")
        assert "150.00" in html  # 10.00 before + 200.00 paid - 60.00 charged
    assert (await money_rows(server))[1:] == [
        ("topup", 20_000, f"payment:{provider}"),
        ("hold", 20_000, "hold"), ("charge", -6_000, "charge"), ("release", -20_000, "release"),
        *([("payout", 0, "capture:stripe")] if provider == "stripe" else [])]
    if provider == "razorpay":
        assert razorpay.refunds == {}
    else:
        (intent,) = stripe.intents.values()
        assert (intent["status"], intent["amount_received"]) == ("succeeded", 20_000)
    (only,) = await payments(server)
    assert only["give_back"] == 0
    shown = await api.get(f"/drivers/{driver['id']}")
    assert shown["account"]["balance"]["amount"] == 15_000
    await ledger_true(server)


def _report(day: Any) -> dict[str, Any]:
    return dict(json.loads(DailyReport.get(DailyReport.day == day).data))


@pytest.mark.parametrize("provider", ["razorpay", "stripe"])
async def test_guest_fee_above_the_payment_is_a_debt_shown_and_written_off(
        server: TestServer, api: Api, charger: Any, razorpay: RazorpayStandin,
        stripe: StripeStandin, provider: str) -> None:
    await site_with_charger(api, "DEBT-1", energy_per_kwh="80")
    await enable_providers(server, provider)
    async with charger("DEBT-1", "secret-pass-1") as cp, phone(server) as p:
        await cp.boot()
        await cp.status(1, "Available")
        phone_ = WalkIn(p.session, server)
        _, where = await phone_.checkout("DEBT-1", 1, provider, "200")
        checkout = where.rsplit("/", 1)[1]
        path = f"/i/{checkout}/pay" if provider == "razorpay" else f"/pay/{checkout}"
        _, html, landed = await phone_.pay_hosted(where, path, {"method": "upi", "card": "4242"})
        assert landed.startswith("/driver/starts/"), html[:400]
        (tag,) = [kw["id_tag"] for a, kw in cp.received if a == "RemoteStartTransaction"]
        await _charge(cp, tag, 3_000)  # no meter values came: 3 kWh at 80.00 = 240.00
        await _done(server)
    if provider == "razorpay":
        assert razorpay.refunds == {}  # nothing is given back
    else:
        (intent,) = stripe.intents.values()  # the whole authorization, and not a paisa more
        assert (intent["status"], intent["amount_received"]) == ("succeeded", 20_000)
    database, settings = server.app[keys.DATABASE], server.app[keys.SETTINGS]
    day = datetime.now(settings.tz).date()
    await run_day(database, settings, day, mail=False)
    (debt,) = [a for a in (await database.read(_report, day))["anomalies"]
               if a["kind"] == "walkin_debt"]
    assert "owes 4000 minor units" in debt["detail"]
    report = await database.read(_report, day)
    assert report["online"][0] == {"provider": provider, "method": "upi" if provider ==
                                   "razorpay" else "card", "kind": "payment", "count": 1,
                                   "amount_minor": 20_000}
    assert [(p["provider"], p["status"], p["mismatches"])
            for p in report["settlement"]["providers"]] == [(provider, "ok", 0)]
    # Staff gave 5.00 back on the provider's own dashboard: the box never booked it.
    (payment_ref,) = [p["payment_ref"] for p in await payments(server)]
    if provider == "razorpay":
        razorpay.refunds[payment_ref] = [{"id": "rfnd_dash", "payment_id": payment_ref,
                                          "amount": 500, "status": "processed",
                                          "created_at": int(time.time())}]
    else:
        stripe._move("refund", -500, {"id": "re_dash", "object": "refund",
                                      "payment_intent": payment_ref})
    await run_day(database, settings, day, mail=False)
    report = await database.read(_report, day)
    assert report["settlement"]["mismatches"] == [{
        "provider": provider, "payment_ref": payment_ref, "ours_minor": 20_000,
        "theirs_minor": 19_500}]
    assert "settlement_mismatch" in [a["kind"] for a in report["anomalies"]]
    if provider == "razorpay":  # the provider cannot be reached: said so, not a mismatch
        razorpay.down = True
        await run_day(database, settings, day, mail=False)
        report = await database.read(_report, day)
        assert report["settlement"]["providers"][0]["status"] == "unavailable"
        assert "settlement_unchecked" in [a["kind"] for a in report["anomalies"]]
        razorpay.down = False
    async with staff_client(server, "admin") as admin:
        status, html = await admin.get("/settings/payments")
        assert status == 200 and 'class="debt"' in html and "40.00" in html
        status, html = await admin.get(f"/reports/{day}")
        assert status == 200 and 'id="online"' in html and 'id="settlement"' in html
        status, text = await admin.get(f"/reports/{day}/online.csv")
        assert status == 200 and f"{provider},{report['online'][0]['method']},payment,1," \
            "200.00" in text
        status, html = await admin.post("/settings/payments/debts/1/write-off",
                                        {"reason": "driver paid cash at the desk"},
                                        from_page="/settings/payments")
        assert status == 200 and "No walk-in debts" in html
        await admin.post("/settings/payments/debts/1/write-off", {"reason": "again"},
                         from_page="/settings/payments")  # a second click changes nothing
    assert await money_rows(server) == [
        ("topup", 20_000, f"payment:{provider}"), ("hold", 20_000, "hold"),
        ("charge", -24_000, "charge"), ("release", -20_000, "release"),
        *([("payout", 0, "capture:stripe")] if provider == "stripe" else []),
        ("adjustment", 4_000, "writeoff:walkin")]
    await ledger_true(server)
