"""Walk-in payment pages: the connector page's "pay and charge" form sends the phone to the
provider's checkout; the way back (`/pay/{token}/return`) and the provider's webhook both ask
the provider's API whether it was paid (the redirect itself proves nothing), book it on a guest
account, commit the hold and send the start, whichever comes first and only once. The phone
then holds a session of the guest driver and follows the usual live page."""

from __future__ import annotations

import logging
import time
from decimal import Decimal

from aiohttp import web

from appliance import keys
from appliance.billing import online_topups, pricing, qr, tariffs, walkin
from appliance.billing.walkin_returns import confirm_topup
from appliance.db.models import Station
from appliance.db.models_driver import QrStart
from appliance.db.models_payments import OnlinePayment
from appliance.errors import N_, ApplianceError, InvalidInput, NotFound, WebhookRefused
from appliance.payments.provider import NewCheckout, Paid
from appliance.web.driver.common import current_driver, log_in, now, page, site
from appliance.web.driver.start import (
    CONNECTOR,
    parse_limits,
    render_start,
    send_start,
    start_timeout,
)

routes = web.RouteTableDef()
log = logging.getLogger(__name__)


def _kwh_price(cpid: str, connector_id: int, wh: int, currency: str) -> int:
    """A kWh limit shown and paid as its price (plus qr's margin for time fees)."""
    station = qr.find_connector(cpid, connector_id)
    tariff = tariffs.resolve(station.id, connector_id) if station else None
    if tariff is None:
        raise InvalidInput(N_("This charger has no price per kWh: pay an amount instead."))
    at = now()
    fee = pricing.price(tariffs.snapshot(tariff, currency), pricing.Facts(wh, at, at)).fee
    return pricing.round_half_up(Decimal(fee) * qr.KWH_MARGIN)


@routes.post(CONNECTOR + "/pay")
async def pay_post(request: web.Request) -> web.StreamResponse:
    """Open a checkout for one session and send the phone to the provider."""
    cpid, connector_id = request.match_info["cpid"], int(request.match_info["connector"])
    form = await request.post()
    database, payments = request.app[keys.DATABASE], request.app[keys.PAYMENTS]
    typed = {k: str(form.get(k, ""))[:20] for k in ("limit_kind", "limit")}
    try:
        name = str(form.get("provider", ""))
        if name not in await payments.enabled():
            raise InvalidInput(N_("Online payment is not available here: log in and pay "
                                  "from your balance, or ask at the desk."))
        if not request.app[keys.CONTROL].is_online(await database.read(_key_cpid, cpid)):
            raise InvalidInput(N_("The charger is offline. Please try another one, or ask "
                                  "at the desk."))
        provider = await payments.get(name)
        currency = (await site(request)).currency
        amount, wh = parse_limits(form, currency)
        if wh is not None:
            amount = await database.read(_kwh_price, cpid, connector_id, wh, currency)
        if amount is None:
            raise InvalidInput(N_("Type how much to pay (or how many kWh)."))
        driver = await current_driver(request)
        keep_for = driver.driver_id if driver and form.get("keep_rest") == "on" else None
        p = await database.run(walkin.open_payment, provider.name, provider.manual_capture,
                               cpid, connector_id, amount, currency, wh, now(), keep_for)
        back = str(request.url.origin())  # the address this phone reached the box by
        checkout = await provider.create(NewCheckout(
            amount, currency, f"walkin-{p.id}", f"Charging at {cpid} connector {connector_id}",
            f"{back}/pay/{p.token}/return", f"{back}/pay/{p.token}/cancel"))
        await database.run(walkin.set_checkout, p.id, checkout.ref, checkout.url)
    except ApplianceError as err:
        return await render_start(request, err.message, err.http_status, typed)
    raise web.HTTPSeeOther(checkout.url)


async def confirm_and_start(app: web.Application, payment_id: int) -> OnlinePayment:
    """Ask the provider; if paid, book it, commit the hold and send the start (once)."""
    database, control = app[keys.DATABASE], app[keys.CONTROL]
    p = await database.read(OnlinePayment.get_by_id, payment_id)
    if p.state != "created" or not p.ref:
        return p
    provider = await app[keys.PAYMENTS].get(p.provider, enabled_only=False)
    conf = await provider.confirm(p.ref)
    if conf.status == Paid.FAILED:
        await database.run(walkin.abandon, p.id, now())
    if conf.status not in (Paid.AUTHORIZED, Paid.CAPTURED):
        return await database.read(OnlinePayment.get_by_id, payment_id)
    cpid = await database.read(_cpid, p.station_id)
    timeout = await start_timeout(control, cpid)
    p, moved = await database.run(walkin.book, p.id, conf, timeout, now(), True)
    if moved and p.state == "held" and p.qr_start_id is not None:
        start = await database.read(QrStart.get_by_id, p.qr_start_id)
        problem = await send_start(control, cpid, start)
        if problem is not None:
            await database.run(qr.fail, start.id, problem, now())
    return p


def _key_cpid(cpid: str) -> str:
    station = Station.get_or_none(Station.key == cpid.upper())
    return str(station.cpid) if station is not None else cpid


def _cpid(station_id: int) -> str:
    return str(Station.get_by_id(station_id).cpid)


@routes.get("/pay/{token}/return")
async def pay_return(request: web.Request) -> web.StreamResponse:
    """Where the provider sends the phone back. The page asks the provider itself."""
    database = request.app[keys.DATABASE]
    p = await database.read(walkin.by_token, request.match_info["token"])
    try:
        p = await confirm_and_start(request.app, p.id)
    except ApplianceError as err:
        log.warning("payment %s: confirming with %s failed: %s", p.id, p.provider, err.message)
    return await _after_payment(request, p)


async def _after_payment(request: web.Request, p: OnlinePayment) -> web.StreamResponse:
    if p.driver_id is not None and p.qr_start_id is not None:
        response = web.HTTPSeeOther(f"/driver/starts/{p.qr_start_id}")
        await log_in(response, request, p.driver_id)
        raise response
    cpid = await request.app[keys.DATABASE].read(_cpid, p.station_id)
    return await page(request, "driver/pay.html", {"p": p, "cpid": cpid,
                                                   "message": walkin.readable(p.message)},
                      status=200)


@routes.get("/pay/{token}")
async def pay_status(request: web.Request) -> web.StreamResponse:
    p = await request.app[keys.DATABASE].read(walkin.by_token, request.match_info["token"])
    return await _after_payment(request, p)


@routes.get("/pay/{token}/cancel")
async def pay_cancel(request: web.Request) -> web.StreamResponse:
    """The driver left the checkout: if it was paid after all, the return path books it."""
    return await pay_return(request)


@routes.post("/pay/hooks/{provider}")
async def webhook(request: web.Request) -> web.Response:
    """A provider's webhook: verified by its signature (refused and logged otherwise), acted on
    once per event id, and then only as a nudge to ask the provider's API."""
    name, body = request.match_info["provider"], await request.read()
    database = request.app[keys.DATABASE]
    try:
        provider = await request.app[keys.PAYMENTS].get(name, enabled_only=False)
        note = provider.verify_webhook(request.headers, body, time.time())
    except WebhookRefused as err:
        log.warning("%s webhook refused (from %s): %s", name, request.remote, err.message)
        await database.run(walkin.refused_event, name, err.message, request.remote or "", now())
        raise
    except NotFound:
        raise
    if await database.run(walkin.seen_event, name, note.event_id, note.kind, now()) \
            and note.checkout_ref:
        p = await database.read(walkin.by_ref, name, note.checkout_ref)
        if p is not None:
            await confirm_and_start(request.app, p.id)
        topup = await database.read(online_topups.by_ref, name, note.checkout_ref)
        if topup is not None:
            await confirm_topup(database, request.app[keys.PAYMENTS], topup.id, now())
    return web.json_response({"received": True})
