"""The QR start: `/c/{charge_point_id}/{connector}` shows the charger, the connector's state, the
tariff and the driver's balance; the start form commits a hold, then sends RemoteStartTransaction
with the start's own tag; the live page follows the start through the in-process events (for
this driver's own start only) and has the Stop button."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from appliance import events, keys
from appliance.billing import qr
from appliance.billing.pricing import to_minor
from appliance.charging import sessions
from appliance.charging.control import ChargerControl
from appliance.db.models import ChargingSession
from appliance.errors import N_, ApplianceError, ChargerOffline, InvalidInput, Text
from appliance.web import i18n, sse
from appliance.web.driver.common import (
    current_driver,
    driver_language,
    now,
    page,
    require_driver,
)
from appliance.web.driver.views import connector_now, connector_view, live_state
from appliance.web.i18n import gettext_for
from appliance.web.templating import formats_for

routes = web.RouteTableDef()

log = logging.getLogger(__name__)

START_MARGIN_S = 30.0  # on top of the charger's ConnectionTimeOut
DEFAULT_CONNECTION_TIMEOUT_S = 60.0  # when the charger does not say
CONNECTOR = "/c/{cpid}/{connector:\\d+}"


def _connector(request: web.Request) -> tuple[str, int]:
    return request.match_info["cpid"], int(request.match_info["connector"])


@routes.get(CONNECTOR)
async def start_page(request: web.Request) -> web.StreamResponse:
    """What the QR code opens. Without a login, the login form comes first and returns here."""
    return await render_start(request)


async def render_start(request: web.Request, error: str | None = None, status: int = 200,
                      typed: dict[str, str] | None = None) -> web.StreamResponse:
    cpid, connector_id = _connector(request)
    driver = await current_driver(request)
    socket = request.query.get("socket", "")
    view = await request.app[keys.DATABASE].read(
        connector_view, cpid, connector_id, driver.driver_id if driver else None, now(),
        int(socket) if socket.isdigit() and len(socket) < 4 else None)
    if view["ongoing"] is not None and error is None:
        raise web.HTTPSeeOther(f"/driver/starts/{view['ongoing'].id}")
    online = request.app[keys.CONTROL].is_online(view["station"].cpid)
    if online and error is None:
        ask_ahead(request.app[keys.CONTROL], view["station"].cpid)
    return await page(request, "driver/start.html", {
        **view, "online": online, "error": error, "form_key": secrets.token_urlsafe(16),
        "next": request.path, "typed": typed or {},
        "providers": await request.app[keys.PAYMENTS].enabled()}, status=status)


def parse_limit(form: Any) -> tuple[Decimal | None, int | None]:
    """(money limit as typed, in major units; energy limit in Wh) from the form; both
    optional."""
    kind, raw = str(form.get("limit_kind", "")), str(form.get("limit", "")).strip()
    if not raw or kind not in ("amount", "kwh"):
        return None, None
    try:
        value = Decimal(raw.replace(",", "."))
    except InvalidOperation as err:
        raise InvalidInput(N_("The limit is a number, like 200 or 10.5.")) from err
    if not value.is_finite() or not 0 < value < 10**7:
        raise InvalidInput(N_("The limit must be more than zero."))
    if kind == "kwh":
        return None, int(value * 1000)
    return value, None


def parse_limits(form: Any, currency: str) -> tuple[int | None, int | None]:
    """(money limit in minor units, energy limit in Wh) from the form; both optional."""
    amount, wh = parse_limit(form)
    return (None if amount is None else to_minor(amount, currency)), wh


async def start_timeout(control: ChargerControl, cpid: str) -> float:
    """The charger's ConnectionTimeOut (how long it waits for the cable) plus a margin: asked
    once per connection (or known from its boot), not on every start."""
    try:
        value = await control.configuration_value(cpid, "ConnectionTimeOut")
        if value is not None:
            return float(value) + START_MARGIN_S
    except (ApplianceError, TypeError, ValueError) as err:
        log.info("%s: ConnectionTimeOut unknown (%s); using %ss", cpid, err,
                 DEFAULT_CONNECTION_TIMEOUT_S)
    return DEFAULT_CONNECTION_TIMEOUT_S + START_MARGIN_S


_asking_ahead: set[asyncio.Task[float]] = set()


def ask_ahead(control: ChargerControl, cpid: str) -> None:
    """The start page is open: learn the charger's ConnectionTimeOut now if its connection has
    not told it yet (nothing is sent when it has), so the start does not wait for the
    question. Not awaited: the page does not wait for the charger."""
    task = asyncio.create_task(start_timeout(control, cpid))
    _asking_ahead.add(task)
    task.add_done_callback(_asking_ahead.discard)


async def send_start(control: ChargerControl, cpid: str, start: Any) -> str | None:
    """RemoteStartTransaction after the hold has committed. Returns why it failed, or None."""
    try:
        status = await control.remote_start(cpid, start.connector_id, start.id_tag)
    except ChargerOffline:
        return N_("The charger is offline. Your money was not used.")
    except ApplianceError as err:
        log.warning("%s: RemoteStartTransaction failed: %s", cpid, err.message)
        return N_("The charger did not answer. Your money was not used.")
    if status != "Accepted":
        return N_("The charger refused to start. Your money was not used.")
    return None


def _connector_line(request: web.Request, cpid: str, status: str) -> str:
    online = request.app[keys.CONTROL].is_online(cpid)
    return json.dumps({"online": online, "status": status,
                       "status_text": i18n.label_text(gettext_for(request), status),
                       "free": online and status in qr.FREE_STATES}, ensure_ascii=False)


@routes.get(CONNECTOR + "/events")
async def connector_events(request: web.Request) -> web.StreamResponse:
    """The start page's live line: the charger going offline or online, the connector busy or
    free. Public like the page itself; it carries only what the page shows."""
    cpid, connector_id = _connector(request)
    async with request.app[keys.EVENTS].subscribe(
            (events.ConnectorStatus, events.StationOnline, events.Resync),
            lambda event: _concerns(event, cpid)) as queue:
        status = await request.app[keys.DATABASE].read(connector_now, cpid, connector_id)
        async with sse.stream(request) as out:
            while True:
                await out.send(_connector_line(request, cpid, status))
                told = await _next_status(queue, out, connector_id, status)
                status = told if told is not None else await request.app[keys.DATABASE].read(
                    connector_now, cpid, connector_id)
    return out.response


async def _next_status(queue: asyncio.Queue[events.Event], out: sse.Stream,
                       connector_id: int, status: str) -> str | None:
    """Wait for an event about this charger (the queue takes no other); the connector's
    status as it says (an event may arrive before its row is written, so the event's own
    status wins), or None after a `Resync` (read it again)."""
    while True:
        event = await sse.next_event(queue, sse.KEEPALIVE_S)
        if event is None:
            await out.keepalive()
        elif isinstance(event, events.Resync):
            return None
        elif isinstance(event, events.ConnectorStatus):
            return event.status if event.connector_id == connector_id else status
        elif isinstance(event, events.StationOnline):
            return status


@routes.post(CONNECTOR + "/start")
@require_driver
async def start_post(request: web.Request) -> web.StreamResponse:
    cpid, connector_id = _connector(request)
    driver = await current_driver(request)
    assert driver is not None
    database, control = request.app[keys.DATABASE], request.app[keys.CONTROL]
    form = await request.post()
    # What the page showed is not read again: the hold's one writer job checks the charger,
    # the connector, the driver and the balance (an unknown charger is offline here, and the
    # page it falls back to says there is no such connector).
    if not control.is_online(cpid):
        return await render_start(request, N_("The charger is offline. Please try another one, "
                                                "or ask at the desk."), 409)
    try:
        limit_amount, limit_wh = parse_limit(form)
        req = qr.StartRequest(driver.driver_id, cpid, connector_id,
                              str(form.get("form_key", ""))[:100] or secrets.token_hex(8),
                              await start_timeout(control, cpid), now(),
                              limit_wh=limit_wh, limit_amount=limit_amount)
        start, created = await database.run_first(qr.begin, req)
    except ApplianceError as err:
        typed = {k: str(form.get(k, ""))[:20] for k in ("limit_kind", "limit")}
        return await render_start(request, err.message, err.http_status, typed)
    if created:
        problem = await send_start(control, cpid, start)
        if problem is not None:
            await database.run_first(qr.fail, start.id, problem, now())
    raise web.HTTPSeeOther(f"/driver/starts/{start.id}")


async def _snapshot(request: web.Request, start_id: int, driver_id: int) -> dict[str, Any]:
    """The start as it is now; a pending start past its deadline gives its hold back first.
    Figures come formatted in the site's locale, so the live page shows what the receipt will."""
    database = request.app[keys.DATABASE]
    state = await database.read(live_state, start_id, driver_id, now())
    if state["state"] == "pending" and _overdue(state, now()):
        await database.run(qr.expire_overdue, now())
        state = await database.read(live_state, start_id, driver_id, now())
    await driver_language(request)
    if state["message"]:  # stored as the start failed, in English: shown in the driver's words
        state["message"] = gettext_for(request).gettext(state["message"])
    state["online"] = request.app[keys.CONTROL].is_online(state["cpid"])
    f = formats_for(request, state["currency"] or None)
    if "balance" in state:
        state["balance_text"] = f.money(state["balance"])
    state.update({"energy_text": f.kwh(state["energy_wh"]),
                  "power_text": f.kw(state["power_w"] or 0),
                  "cost_text": f.money(state["cost"])})
    return state


def _overdue(state: dict[str, Any], at: datetime) -> bool:
    deadline = state.get("deadline_at")
    return bool(deadline) and datetime.fromisoformat(str(deadline).rstrip("Z")) < at


def _seconds_left(state: dict[str, Any], at: datetime) -> float:
    deadline = datetime.fromisoformat(str(state["deadline_at"]).rstrip("Z"))
    return max(0.05, (deadline - at).total_seconds() + 0.05)


@routes.get("/driver/starts/{id:\\d+}")
@require_driver
async def live_page(request: web.Request) -> web.StreamResponse:
    return await _live_view(request)


async def _live_view(request: web.Request, message: str | None = None, status: int = 200
                     ) -> web.StreamResponse:
    driver = await current_driver(request)
    assert driver is not None
    state = await _snapshot(request, int(request.match_info["id"]), driver.driver_id)
    return await page(request, "driver/live.html", {"s": state, "message": message,
                                                     "state_json": json.dumps(state)},
                      status=status)


def _concerns(event: events.Event, cpid: str) -> bool:
    """Only events about this start's charger wake the stream (and a `Resync`: events about
    it may have been lost); what is sent is always the driver's own snapshot, never the event
    (desk reader taps never reach a driver)."""
    station = getattr(event, "station_id", None)
    return (isinstance(station, str) and station.upper() == cpid.upper()) \
        or isinstance(event, events.Resync)


@routes.get("/driver/starts/{id:\\d+}/events")
@require_driver
async def live_events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events for one driver's one start, from the in-process events."""
    driver = await current_driver(request)
    assert driver is not None
    start_id = int(request.match_info["id"])
    # Subscribed before the first snapshot: an event published while it is read (the stop
    # committing just then) still wakes the stream, which then reads again. Read first and
    # subscribe after, and a stop in between left the page on "charging" for good. Only
    # events about its charger wake it (until the snapshot names the charger, every one).
    charger: list[str] = []
    async with request.app[keys.EVENTS].subscribe(
            accept=lambda event: not charger or _concerns(event, charger[0])) as queue:
        state = await _snapshot(request, start_id, driver.driver_id)  # 404 before streaming
        charger.append(state["cpid"])
        async with sse.stream(request) as out:
            while True:
                await out.send(json.dumps(state))
                if state["final"]:
                    break
                await _wait(queue, out, state)
                state = await _snapshot(request, start_id, driver.driver_id)
    return out.response


async def _wait(queue: asyncio.Queue[events.Event], out: sse.Stream,
                state: dict[str, Any]) -> None:
    """Until an event about this charger, or a pending start's deadline."""
    while True:
        timeout = sse.KEEPALIVE_S
        if state["state"] == "pending" and state.get("deadline_at"):
            timeout = min(timeout, _seconds_left(state, now()))
        event = await sse.next_event(queue, timeout)
        if event is None:
            if state["state"] == "pending" and _overdue(state, now()):
                return
            await out.keepalive()
            continue
        if _concerns(event, state["cpid"]):
            return


def _session_tx(session_id: int) -> int:
    return int(ChargingSession.get_by_id(session_id).transaction_id)


@routes.post("/driver/starts/{id:\\d+}/stop")
@require_driver
async def stop_post(request: web.Request) -> web.StreamResponse:
    driver = await current_driver(request)
    assert driver is not None
    start_id = int(request.match_info["id"])
    database = request.app[keys.DATABASE]
    state = await _snapshot(request, start_id, driver.driver_id)
    if state["state"] != "charging":
        raise web.HTTPSeeOther(f"/driver/starts/{start_id}")
    tx = await database.read(_session_tx, state["session_id"])
    try:
        status = await request.app[keys.CONTROL].remote_stop(state["cpid"], tx)
    except ApplianceError as err:
        return await _live_view(request, Text(N_("Could not reach the charger: %(reason)s. "
                                                 "Unplug the cable to stop."),
                                              reason=err.message), 502)
    if status != "Accepted":
        return await _live_view(
            request, N_("The charger refused to stop. Unplug the cable to stop."), 409)
    await database.run(sessions.mark_stop_requested, state["session_id"], "driver")
    raise web.HTTPSeeOther(f"/driver/starts/{start_id}?stopping=1")
