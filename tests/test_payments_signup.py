"""Self sign-up from the phone with a code texted through the SMS provider's stand-in (Twilio,
MSG91), its limits and expiry, and online top-ups of the new driver's balance through the
payment providers' stand-ins: booked once as `payment:{provider}:{id}` whatever comes first
(the return page, a webhook, a replay, the reconcile loop)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.billing import walkin_returns
from appliance.config import Settings
from appliance.db.models import utcnow
from appliance.db.models_payments import OnlineTopup, PhoneCode, SmsConfig
from appliance.db.site import defaults_from, save_site
from appliance.people import phone_codes
from tests import standin_sms
from tests.conftest import Api
from tests.driver_fixtures import Phone, ledger_true, phone
from tests.payments_fixtures import (
    enable_providers,
    money_rows,
    post_webhook,
    razorpay,
    stripe,
)
from tests.staff_client import staff_client
from tests.standin_razorpay import RazorpayStandin
from tests.standin_sms import SmsStandin
from tests.standin_stripe import StripeStandin

__all__ = ["razorpay", "stripe"]  # fixtures this module uses


@pytest.fixture
async def sms(aiohttp_server: Any) -> SmsStandin:
    standin = SmsStandin()
    served = await aiohttp_server(standin.app(), host="127.0.0.1")
    standin.base = str(served.make_url("")).rstrip("/")
    return standin


@pytest.fixture
def settings(make_settings: Callable[..., Settings], razorpay: RazorpayStandin,
             stripe: StripeStandin, sms: SmsStandin) -> Settings:
    return make_settings(razorpay_api_base=razorpay.base, stripe_api_base=stripe.base,
                         twilio_api_base=sms.base, msg91_api_base=sms.base,
                         payment_retry_s=0.1)


async def _open_signup(server: TestServer, provider: str) -> None:
    await server.app[keys.DATABASE].run(save_site, defaults_from(server.app[keys.SETTINGS]),
                                        {"self_registration": True}, "test")
    if provider == "twilio":
        await server.app[keys.SMS].save("twilio", True, standin_sms.TWILIO_SID,
                                        standin_sms.TWILIO_TOKEN, standin_sms.TWILIO_FROM, "91",
                                        "test")
    else:
        await server.app[keys.SMS].save("msg91", True, standin_sms.MSG91_TEMPLATE,
                                        standin_sms.MSG91_KEY, "CHARGE", "91", "test")


async def _ask_code(p: Phone, number: str, name: str = "Asha Patel") -> tuple[int, str]:
    status, html, _ = await p.post("/driver/register/code", {"name": name, "phone": number},
                                   "/driver/register")
    return status, html


async def _register(p: Phone, number: str, code: str, pin: str = "2580"
                    ) -> tuple[int, str, str]:
    return await p.post("/driver/register", {"name": "Asha Patel", "phone": number,
                                             "code": code, "pin": pin}, "/driver/register")


async def _topup(p: Phone, provider: str, amount: str) -> str:
    """The top-up form; returns where it sends the phone (the provider's checkout)."""
    _, html, _ = await p.get("/me/topup")
    token = __import__("re").search(r'name="csrf_token" value="([^"]+)"', html)
    assert token, html[:300]
    async with p.session.post(p.url("/me/topup"), allow_redirects=False, data={
            "csrf_token": token[1], "amount": amount, "provider": provider}) as resp:
        assert resp.status == 303, await resp.text()
        return resp.headers["Location"]


async def test_twilio_signup_then_razorpay_topup_booked_once(
        server: TestServer, api: Api, sms: SmsStandin, razorpay: RazorpayStandin) -> None:
    await _open_signup(server, "twilio")
    await enable_providers(server, "razorpay")
    async with phone(server) as p:
        status, html, _ = await p.get("/driver/register")
        assert status == 200 and 'action="/driver/register/code"' in html
        status, html = await _ask_code(p, "98765 43210")
        assert status == 200 and "We sent a code" in html, html[:800]
        code = sms.last_code("+919876543210")
        status, html = await _ask_code(p, "98765 43210")  # asked again at once: refused
        assert status == 429 and "a moment ago" in html and len(sms.sent) == 1
        wrong = f"{(int(code) + 1) % 10 ** 6:06d}"
        status, html, _ = await _register(p, "98765 43210", wrong)
        assert status == 400 and "Wrong code" in html
        status, html, path = await _register(p, "98765 43210", code)
        assert path == "/me" and "Asha Patel" in html and "Top up online" in html
        status, html, _ = await _register(p, "98765 43210", code)  # the same form again
        assert status == 400 and "registered" in html
    async with phone(server) as p:  # the phone number is the login
        _, html, path = await p.login("+91 98765 43210", "2580")
        assert path == "/me"
        where = await _topup(p, "razorpay", "500")
        link = where.rsplit("/", 1)[1]
        assert where.startswith(razorpay.base + "/i/plink_")
        assert await money_rows(server) == []  # nothing before the provider says so
        razorpay.pay(link)
        body, headers = razorpay.webhook(link, event_id="evt_topup")
        assert await post_webhook(server, "razorpay", body, headers) == 200  # books it
        assert await post_webhook(server, "razorpay", body, headers) == 200  # a replay
        other = razorpay.webhook(link, event_id="evt_other")  # another event, same payment
        assert await post_webhook(server, "razorpay", *other) == 200
        status, html, _ = await p.get(f"/topup/{await _token(server)}/return")
        assert status == 200 and "Added to your balance" in html
        await walkin_returns.tick(server.app[keys.DATABASE], server.app[keys.PAYMENTS],
                                  utcnow() + timedelta(hours=1), everything=True)
        _, html, _ = await p.get("/me")
        assert "500.00" in html
    assert await money_rows(server) == [("topup", 50_000, "payment:razorpay")]
    await ledger_true(server)


def _topup_token() -> str:
    return str(OnlineTopup.select().order_by(OnlineTopup.id.desc()).first().token)


async def _token(server: TestServer) -> str:
    return await server.app[keys.DATABASE].read(_topup_token)


async def _signed_up(server: TestServer, sms: SmsStandin, p: Phone, number: str) -> None:
    await _ask_code(p, number)
    _, _, path = await _register(p, number, sms.last_code("91" + number[-10:]))
    assert path == "/me"


async def test_stripe_topup_is_captured_whole_and_abandoned_takes_nothing(
        server: TestServer, api: Api, sms: SmsStandin, stripe: StripeStandin) -> None:
    await _open_signup(server, "msg91")
    await enable_providers(server, "stripe")
    async with phone(server) as p:
        await _signed_up(server, sms, p, "9000011111")
        assert sms.sent[-1]["provider"] == "msg91"
        where = await _topup(p, "stripe", "250")
        session_id = where.rsplit("/", 1)[1]
        stripe.pay(session_id)  # authorized only (manual capture)
        body, headers = stripe.webhook(session_id)  # the webhook before the phone is back
        assert await post_webhook(server, "stripe", body, headers) == 200
        (intent,) = stripe.intents.values()
        assert (intent["status"], intent["amount_received"]) == ("succeeded", 25_000)
        status, html, _ = await p.get(f"/topup/{await _token(server)}/return")
        assert "Added to your balance" in html
        # A second top-up left at the checkout: nothing booked, abandoned after the window.
        await _topup(p, "stripe", "100")
        status, html, _ = await p.get(f"/topup/{await _token(server)}/cancel")
        assert "Waiting for the payment provider" in html
        later = utcnow() + timedelta(minutes=20)
        await walkin_returns.tick(server.app[keys.DATABASE], server.app[keys.PAYMENTS], later)
        _, html, _ = await p.get(f"/topup/{await _token(server)}")
        assert "Nothing was taken" in html
    assert await money_rows(server) == [("topup", 25_000, "payment:stripe")]
    await ledger_true(server)


def _age_codes(minutes: int) -> None:
    for row in PhoneCode.select():
        row.sent_at -= timedelta(minutes=minutes)
        row.expires_at -= timedelta(minutes=minutes)
        row.save()


async def test_code_expiry_tries_limits_and_a_provider_down(
        server: TestServer, api: Api, sms: SmsStandin) -> None:
    await _open_signup(server, "msg91")
    database = server.app[keys.DATABASE]
    async with phone(server) as p:
        await _ask_code(p, "9000022222")
        code = sms.last_code("919000022222")
        await database.run(_age_codes, 11)  # past its ten minutes
        status, html, _ = await _register(p, "9000022222", code)
        assert status == 400 and "expired" in html
        await _ask_code(p, "9000022222")
        code = sms.last_code("919000022222")
        for _ in range(phone_codes.TRIES):
            status, html, _ = await _register(p, "9000022222", "000000" if code != "000000"
                                              else "111111")
        status, html, _ = await _register(p, "9000022222", code)  # right, but too late
        assert status == 400 and "used up" in html
        sms.down = True
        await database.run(_age_codes, 2)
        status, html = await _ask_code(p, "9000022222")
        assert status == 503 and "could not be sent" in html
        sms.down = False
        status, html = await _ask_code(p, "9000022222")  # the failed text did not count
        assert status == 200, html[:600]
        for n in range(phone_codes.PER_ADDRESS_HOUR):  # many numbers from one address
            status, html = await _ask_code(p, f"90000333{n:02d}")
        assert status == 429 and "Too many codes" in html
    assert len(sms.sent) == phone_codes.PER_ADDRESS_HOUR  # every code this address had


async def test_forgotten_pin_by_sms_code(server: TestServer, api: Api, sms: SmsStandin) -> None:
    """At night, nobody at the desk: a code to the registered number sets a new PIN (and lifts
    a lock); a number not registered is told the same and texted nothing."""
    await _open_signup(server, "twilio")
    async with phone(server) as p:
        await _signed_up(server, sms, p, "9000044444")
        _, html, _ = await p.get("/driver/login")
        assert 'href="/driver/forgot"' in html
    await server.app[keys.DATABASE].run(_age_codes, 2)  # the sign-up code is minutes old
    async with phone(server) as p:
        sent = len(sms.sent)
        status, html, _ = await p.post("/driver/forgot/code", {"phone": "9000055555"},
                                       "/driver/forgot")
        assert status == 200 and "If" in html and len(sms.sent) == sent  # not registered
        status, html, _ = await p.post("/driver/forgot/code", {"phone": "+91 90000 44444"},
                                       "/driver/forgot")
        assert status == 200 and len(sms.sent) == sent + 1
        code = sms.last_code("919000044444")
        status, html, path = await p.post("/driver/forgot", {
            "phone": "+91 90000 44444", "code": code, "pin": "97531"}, "/driver/forgot")
        assert path == "/me" and "Your PIN is changed" in html
    async with phone(server) as p:
        _, _, path = await p.login("9000044444", "97531")
        assert path == "/me"


def _stored_sms() -> list[tuple[str, bool, str, str]]:
    return [(r.provider, r.enabled, r.account, r.secret_enc) for r in SmsConfig.select()]


async def test_staff_set_up_sms_sealed_and_tested(server: TestServer, sms: SmsStandin) -> None:
    async with staff_client(server, "admin") as admin:
        status, html = await admin.post("/settings/sms/twilio", {
            "enabled": "on", "account": standin_sms.TWILIO_SID,
            "secret": standin_sms.TWILIO_TOKEN, "sender": standin_sms.TWILIO_FROM,
            "country_code": "+91"}, from_page="/settings/payments")
        assert status == 200 and "Saved" in html and 'id="sms-twilio"' in html
        status, html = await admin.post("/settings/sms/twilio/test", {"phone": "98765 00000"},
                                        from_page="/settings/payments")
        assert status == 200 and "Test SMS sent" in html
        assert sms.sent[-1]["to"] == "+919876500000"
        status, html = await admin.post("/settings/sms/msg91", {
            "enabled": "on", "account": "", "secret": "", "sender": "", "country_code": "x"},
            from_page="/settings/payments")
        assert status == 400 and "country code" in html
    stored = await server.app[keys.DATABASE].read(_stored_sms)
    assert [(p, on, account) for p, on, account, _ in stored] == [
        ("twilio", True, standin_sms.TWILIO_SID)]
    assert standin_sms.TWILIO_TOKEN not in stored[0][3]  # sealed with the box's key file
