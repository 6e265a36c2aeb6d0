"""The live site dashboard, and the event stream that keeps staff pages live."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from aiohttp import web

from appliance import events, keys
from appliance.reports.overview import site_overview, today_totals
from appliance.web import sse
from appliance.web.scope import scope_of
from appliance.web.session import require
from appliance.web.templating import page_site, render

routes = web.RouteTableDef()


async def _live_data(request: web.Request) -> dict[str, Any]:
    database, tz = request.app[keys.DATABASE], page_site(request).tz
    sites = scope_of(request).sites
    stations = await database.read(site_overview, sites)
    totals = await database.read(today_totals, tz, None, sites)
    power = request.app[keys.POWER].snapshot
    # What each session may draw, by "CPID/connector" (load management's last allocation).
    allowed = {k: a for group in power.values() for k, a in group["allowed"].items()}
    site_w = sum(c.power_w or 0 for st in stations for c in st.connectors if c.session_id)
    return {"stations": stations, "totals": totals, "power": power, "allowed": allowed,
            "site_w": site_w}


@routes.get("/")
@require("desk")
async def dashboard(request: web.Request) -> web.StreamResponse:
    return render(request, "dashboard.html", await _live_data(request))


@routes.get("/dashboard/live")
@require("desk")
async def dashboard_live(request: web.Request) -> web.StreamResponse:
    """The live part of the dashboard, re-read by the page when an event says it changed."""
    return render(request, "_dashboard_live.html", await _live_data(request))


def _event_json(event: events.Event) -> str:
    def default(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        raise TypeError(type(value).__name__)

    return json.dumps({"type": type(event).__name__, **asdict(event)}, default=default)


STAFF_EVENTS = (events.StationOnline, events.StationBooted, events.ConnectorStatus,
                events.SessionStarted, events.SessionMeter, events.SessionStopped,
                events.TagSeen, events.ReaderState, events.PowerAllocated)


@routes.get("/events")
@require("desk")
async def event_stream(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events for staff pages: the in-process events, never database polling.
    Desk reader taps go only here (staff), never to driver pages."""
    sites = scope_of(request).sites
    mine = None if sites is None else {  # a site's staff hear of their sites' chargers only
        s.id for s in await request.app[keys.DATABASE].read(site_overview, sites)}
    async with request.app[keys.EVENTS].subscribe() as queue, sse.stream(request) as out:
        while True:
            event = await sse.next_event(queue, sse.KEEPALIVE_S)
            if event is None:
                await out.keepalive()
            elif isinstance(event, STAFF_EVENTS) and (
                    mine is None or getattr(event, "station_id", None) in mine
                    or isinstance(event, events.TagSeen | events.ReaderState)):
                await out.send(_event_json(event))
    return out.response
