"""Online top-ups for a signed-in driver: the amount, the provider's checkout, and the way back
(`/topup/{token}/return`), which asks the provider's API (the redirect proves nothing) and books
the payment on the driver's balance once; the webhook and the reconcile loop do the same."""

from __future__ import annotations

import logging

from aiohttp import web

from appliance import keys
from appliance.billing import online_topups
from appliance.billing.walkin_returns import confirm_topup
from appliance.db.models_payments import OnlineTopup
from appliance.errors import N_, ApplianceError, InvalidInput
from appliance.payments.provider import NewCheckout
from appliance.web.driver.common import current_driver, now, page, require_driver, site
from appliance.web.forms import parse_amount

routes = web.RouteTableDef()
log = logging.getLogger(__name__)


async def _form(request: web.Request, error: str | None = None, amount: str = "",
                status: int = 200) -> web.StreamResponse:
    return await page(request, "driver/topup.html", {
        "providers": await request.app[keys.PAYMENTS].enabled(), "error": error,
        "amount": amount}, status=status)


@routes.get("/me/topup")
@require_driver
async def topup_page(request: web.Request) -> web.StreamResponse:
    return await _form(request)


@routes.post("/me/topup")
@require_driver
async def topup_post(request: web.Request) -> web.StreamResponse:
    driver = await current_driver(request)
    assert driver is not None
    form = await request.post()
    typed = str(form.get("amount", ""))[:20]
    database, payments = request.app[keys.DATABASE], request.app[keys.PAYMENTS]
    try:
        name = str(form.get("provider", ""))
        if name not in await payments.enabled():
            raise InvalidInput(N_("Online payment is not available here: top up at the desk."))
        provider = await payments.get(name)
        currency = (await site(request)).currency
        amount = parse_amount(typed, currency)
        t = await database.run(online_topups.open_topup, driver.driver_id, provider.name,
                               amount, currency, now())
        back = str(request.url.origin())
        checkout = await provider.create(NewCheckout(
            amount, currency, f"topup-{t.id}", "Charging balance top-up",
            f"{back}/topup/{t.token}/return", f"{back}/topup/{t.token}/cancel"))
        await database.run(online_topups.set_checkout, t.id, checkout.ref, checkout.url)
    except ApplianceError as err:
        return await _form(request, err.message, typed, err.http_status)
    raise web.HTTPSeeOther(checkout.url)


async def _after(request: web.Request, t: OnlineTopup) -> web.StreamResponse:
    return await page(request, "driver/topup_done.html", {"t": t}, status=200)


@routes.get("/topup/{token}/return")
async def topup_return(request: web.Request) -> web.StreamResponse:
    database = request.app[keys.DATABASE]
    t = await database.read(online_topups.by_token, request.match_info["token"])
    try:
        t = await confirm_topup(database, request.app[keys.PAYMENTS], t.id, now())
    except ApplianceError as err:
        log.warning("online top-up %s: confirming with %s failed: %s", t.id, t.provider,
                    err.message)
    return await _after(request, t)


@routes.get("/topup/{token}/cancel")
async def topup_cancel(request: web.Request) -> web.StreamResponse:
    return await topup_return(request)


@routes.get("/topup/{token}")
async def topup_status(request: web.Request) -> web.StreamResponse:
    t = await request.app[keys.DATABASE].read(online_topups.by_token,
                                              request.match_info["token"])
    return await _after(request, t)
