"""Web Push for drivers: the box's public VAPID key for the page, the driver's phone saving or
dropping its subscription, and the loop that tells a driver's phones when a session of theirs
ended (charging finished, the car unplugged, or the money ran out and the box stopped it)."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime

import aiohttp
from aiohttp import web

from appliance import catalogs, events, formats, keys
from appliance.db.models import Account, ChargingSession, Driver, Station, utcnow
from appliance.errors import N_, InvalidInput
from appliance.people import push_subs
from appliance.push.webpush import Subscription, send
from appliance.web.driver.common import current_driver, require_driver

routes = web.RouteTableDef()
log = logging.getLogger(__name__)
GONE = (404, 410)
TELL_GATHER_S = 1.0  # stops asked about together (see notify_forever)
LAST_TELL_S = 5.0  # at shutdown, how long the stops gathered may take to be told


@routes.get("/me/push/key")
async def push_key(request: web.Request) -> web.Response:
    return web.json_response({"key": request.app[keys.VAPID].public})


def _subscription(body: object) -> Subscription:
    if not isinstance(body, dict) or not isinstance(body.get("keys"), dict):
        raise InvalidInput(N_("That is not a push subscription."))
    return Subscription(str(body.get("endpoint", "")), str(body["keys"].get("p256dh", "")),
                        str(body["keys"].get("auth", "")))


@routes.post("/me/push")
@require_driver
async def push_subscribe(request: web.Request) -> web.Response:
    driver = await current_driver(request)
    assert driver is not None
    try:
        body = json.loads(await request.text())
    except ValueError as err:
        raise InvalidInput(N_("That is not a push subscription.")) from err
    await request.app[keys.DATABASE].run(push_subs.save, driver.driver_id, _subscription(body),
                                         utcnow())
    return web.json_response({"subscribed": True})


@routes.post("/me/push/remove")
@require_driver
async def push_unsubscribe(request: web.Request) -> web.Response:
    driver = await current_driver(request)
    assert driver is not None
    endpoint = str((json.loads(await request.text() or "{}") or {}).get("endpoint", ""))
    await request.app[keys.DATABASE].run(push_subs.remove, driver.driver_id, endpoint)
    return web.json_response({"subscribed": False})


def ended(transaction_ids: list[int], site_locale: str) -> list[dict[str, object]]:
    """What to tell about each of these stopped sessions whose driver has a phone to tell."""
    # (not the charger's own numbers, for stops we never began)
    ids = [t for t in transaction_ids if 0 < t < 2**63]
    told: list[dict[str, object]] = []
    for session_id in push_subs.sessions_to_tell(ids):
        session = ChargingSession.get_by_id(session_id)
        driver = Driver.get_by_id(session.driver_id)
        subs = push_subs.of_driver(driver.id)
        if not subs:
            continue
        account = Account.get(Account.driver == driver.id)
        told.append({"subs": subs, "language": driver.language or site_locale,
                     "session_id": session.id,
                     "cpid": Station.get_by_id(session.station_id).cpid,
                     "energy_wh": session.energy_wh, "fee": session.fee_minor,
                     "currency": account.currency})
    return told


def message(app: web.Application, facts: dict[str, object], site_locale: str
            ) -> dict[str, str]:
    tables = app[keys.CATALOGS].tables
    code = catalogs.language_of(str(facts["language"]), tables) or catalogs.SOURCE
    _ = app[keys.CATALOGS].translations(code).gettext
    locale = catalogs.format_locale(code, site_locale)
    fee = facts["fee"]
    body = _("%(charger)s: %(kwh)s kWh") % {
        "charger": facts["cpid"], "kwh": formats.kwh(int(str(facts["energy_wh"])), locale)}
    if isinstance(fee, int):
        body += " · " + formats.money(fee, str(facts["currency"]), locale)
    return {"title": _("Charging has ended"), "body": body,
            "url": f"/me/receipts/{facts['session_id']}"}


async def tell(app: web.Application, http: aiohttp.ClientSession, transaction_ids: list[int],
               at: datetime) -> int:
    """Push the end of these sessions to their drivers' phones; how many phones took it."""
    database = app[keys.DATABASE]
    site_locale = app[keys.SITE].locale
    told = 0
    for facts in await database.read(ended, transaction_ids, site_locale):
        try:
            told += await _tell_one(app, http, facts, at)
        except Exception:  # one bad push never stops the next ones
            log.exception("telling the end of session %s failed", facts["session_id"])
    return told


async def _tell_one(app: web.Application, http: aiohttp.ClientSession,
                    facts: dict[str, object], at: datetime) -> int:
    database, settings = app[keys.DATABASE], app[keys.SETTINGS]
    text = message(app, facts, app[keys.SITE].locale)
    told = 0
    for sub in facts["subs"]:  # type: ignore[attr-defined]
        status = await send(http, app[keys.VAPID], sub, text, settings.push_contact)
        if status in GONE:
            await database.run(push_subs.gone, sub.endpoint)
        elif 200 <= status < 300:
            told += 1
            await database.run(push_subs.sent, sub.endpoint, at)
        else:
            log.warning("push service answered %s", status)
    return told


async def notify_forever(app: web.Application, gather: float | None = None) -> None:
    """Follow the bus; each session that stopped in this process is told to its driver's
    phones. The stops of `gather` seconds are asked about together: one read of the database
    for them all, not one for each (most drivers never subscribe, and a busy site stops
    dozens of sessions a second; a phone hears a second later; `gather`: TELL_GATHER_S as it
    is at each stop). Stopped while gathering (the box shutting down, after its chargers' last
    stops were answered), it still tells those, for at most LAST_TELL_S."""
    async with aiohttp.ClientSession() as http, app[keys.EVENTS].subscribe(
            (events.SessionStopped,), local=True) as queue:
        while True:
            stopped = [await queue.get()]
            try:
                await asyncio.sleep(TELL_GATHER_S if gather is None else gather)
            except asyncio.CancelledError:
                await _tell_gathered(app, http, stopped, queue, LAST_TELL_S)
                raise
            await _tell_gathered(app, http, stopped, queue, None)


async def _tell_gathered(app: web.Application, http: aiohttp.ClientSession,
                         stopped: list[events.Event], queue: asyncio.Queue[events.Event],
                         limit: float | None) -> None:
    while not queue.empty():
        stopped.append(queue.get_nowait())
    ids = [e.transaction_id for e in stopped if isinstance(e, events.SessionStopped)]
    try:
        async with asyncio.timeout(limit):
            await tell(app, http, ids, utcnow())
    except Exception as err:  # the database's trouble now never stops the next stops
        if limit is not None and isinstance(err, TimeoutError):
            log.warning("shutting down: the end of transactions %s not told in %s s", ids, limit)
        else:
            log.exception("telling the end of transactions %s failed", ids)
