"""Online payments settings (admin): each provider's switch, key id and secrets (sealed with the
box's key file, never shown back), a "test connection" button, the webhook address to give the
provider, and the walk-in payments still giving money back (a failing refund stays here until
it is done)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from appliance import keys
from appliance.billing import online_topups, walkin
from appliance.errors import N_, ApplianceError, InvalidInput, Text
from appliance.payments import config
from appliance.sms import registry as sms_registry
from appliance.web.audit import record
from appliance.web.session import require, staff_actor
from appliance.web.templating import render

routes = web.RouteTableDef()
# Messages are made here in English and shown in the reader's language by the page (`tr`).
NAMES_SHORT = {"razorpay": "Razorpay", "stripe": "Stripe"}
SMS_NAMES = {"msg91": N_("MSG91 (SendOTP; India)"), "twilio": N_("Twilio (SMS)")}
NAMES = {"razorpay": N_("Razorpay (UPI, cards, netbanking; INR)"),
         "stripe": N_("Stripe (cards, wallets)")}


async def _render(request: web.Request, message: str | None = None, ok: bool = True,
                  status: int = 200) -> web.StreamResponse:
    database = request.app[keys.DATABASE]
    stored = {s.provider: s for s in await database.read(config.load_all)}
    providers: list[dict[str, Any]] = [
        {"name": name, "label": NAMES[name], "enabled": bool(stored.get(name) and
                                                             stored[name].enabled),
         "key_id": stored[name].key_id if name in stored else "",
         "has_secret": bool(name in stored and stored[name].secret_enc),
         "has_webhook_secret": bool(name in stored and stored[name].webhook_secret_enc),
         "webhook_url": f"{request.app[keys.SITE].base_url or request.url.origin()}"
                        f"/pay/hooks/{name}"}
        for name in config.PROVIDERS]
    pending = await database.read(walkin.for_staff)
    sms = {s.provider: s for s in await database.read(sms_registry.load_all)}
    return render(request, "payments.html", {
        "providers": providers, "pending": pending, "message": message, "ok": ok,
        "sms": [{"name": name, "label": SMS_NAMES[name], "stored": sms.get(name)}
                for name in sms_registry.PROVIDERS],
        "topups_astray": await database.read(online_topups.for_staff),
        "debts": await database.read(walkin.debts)}, status=status)


@routes.get("/settings/payments")
@require("admin")
async def payments_page(request: web.Request) -> web.StreamResponse:
    return await _render(request)


@routes.post("/settings/payments/{provider}")
@require("admin")
async def save_provider(request: web.Request) -> web.StreamResponse:
    name = request.match_info["provider"]
    form = await request.post()
    if name not in config.PROVIDERS:
        raise InvalidInput(N_("There is no payment provider %(name)s."), params={"name": name})
    try:
        await request.app[keys.PAYMENTS].save(
            name, form.get("enabled") == "on", str(form.get("key_id", "")),
            str(form.get("secret", "")).strip(), str(form.get("webhook_secret", "")).strip(),
            staff_actor(request))
    except ApplianceError as err:
        return await _render(request, err.message, ok=False, status=400)
    # The audit says which secrets changed, never what they are.
    await record(request, "payments.provider", name, {
        "enabled": form.get("enabled") == "on", "key_id": str(form.get("key_id", "")),
        "secret_changed": bool(form.get("secret")),
        "webhook_secret_changed": bool(form.get("webhook_secret"))})
    return await _render(request, N_("Saved."))


@routes.post("/settings/payments/{provider}/test")
@require("admin")
async def test_provider(request: web.Request) -> web.StreamResponse:
    name = request.match_info["provider"]
    try:
        provider = await request.app[keys.PAYMENTS].get(name, enabled_only=False)
        await provider.test_connection()
    except ApplianceError as err:
        return await _render(request, Text(N_("%(name)s: the connection failed: %(why)s"),
                                           name=NAMES_SHORT.get(name, name), why=err.message),
                             ok=False, status=502)
    return await _render(request, Text(N_("%(name)s: connected, the keys work."),
                                       name=NAMES_SHORT.get(name, name)))


@routes.post("/settings/sms/{provider}")
@require("admin")
async def save_sms(request: web.Request) -> web.StreamResponse:
    """The SMS provider for sign-up codes; its token sealed like the payment keys."""
    name = request.match_info["provider"]
    form = {k: str(v) for k, v in (await request.post()).items()}
    try:
        await request.app[keys.SMS].save(
            name, form.get("enabled") == "on", form.get("account", ""),
            form.get("secret", "").strip(), form.get("sender", ""),
            form.get("country_code", "91"), staff_actor(request))
    except ApplianceError as err:
        return await _render(request, err.message, ok=False, status=400)
    await record(request, "sms.provider", name, {
        "enabled": form.get("enabled") == "on", "account": form.get("account", ""),
        "sender": form.get("sender", ""), "secret_changed": bool(form.get("secret"))})
    return await _render(request, N_("Saved."))


@routes.post("/settings/sms/{provider}/test")
@require("admin")
async def test_sms(request: web.Request) -> web.StreamResponse:
    """Send a test code to a number staff type: the whole way a driver's code goes."""
    name = request.match_info["provider"]
    form = await request.post()
    try:
        sms = await request.app[keys.SMS].get(name)
        await sms.send_code(str(form.get("phone", ""))[:40], "123456",
                            "Test of the charging site's sign-up codes: 123456")
    except ApplianceError as err:
        return await _render(request, err.message, ok=False, status=502)
    return await _render(request, N_("Test SMS sent."))


@routes.post("/settings/payments/debts/{id:\\d+}/write-off")
@require("admin")
async def write_off(request: web.Request) -> web.StreamResponse:
    """Close a walk-in guest's debt (no provider takes more than was paid): audited."""
    payment_id = int(request.match_info["id"])
    reason = str((await request.post()).get("reason", "")).strip()[:120]
    if not reason:
        return await _render(request, N_("Say why the debt is written off."), ok=False,
                             status=400)
    amount = await request.app[keys.DATABASE].run(walkin.write_off, payment_id,
                                                  staff_actor(request), reason)
    await record(request, "payments.write_off", str(payment_id),
                 {"amount": amount, "reason": reason})
    return await _render(request, N_("Written off."))
