"""Pages: login, logout, the live site dashboard, and the event stream that keeps pages live."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from aiohttp import web

from appliance import events, keys
from appliance.reports.overview import site_overview, today_totals
from appliance.web.session import current_staff, login, logout_response, require
from appliance.web.templating import render

routes = web.RouteTableDef()
KEEPALIVE_S = 15.0


@routes.get("/login")
async def login_page(request: web.Request) -> web.StreamResponse:
    if current_staff(request) is not None:
        raise web.HTTPSeeOther("/")
    return render(request, "login.html", {"next": request.query.get("next", "/"), "error": None})


@routes.post("/login")
async def login_post(request: web.Request) -> web.StreamResponse:
    form = dict(await request.post())
    response, error = await login(request, form)
    if response is not None:
        raise response
    return render(request, "login.html", {"next": form.get("next", "/"), "error": error,
                                          "username": form.get("username", "")}, status=401)


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    raise logout_response()


@routes.get("/")
@require("desk")
async def dashboard(request: web.Request) -> web.StreamResponse:
    database, tz = request.app[keys.DATABASE], request.app[keys.SITE].tz
    stations = await database.read(site_overview)
    totals = await database.read(today_totals, tz)
    return render(request, "dashboard.html", {"stations": stations, "totals": totals})


def _event_json(event: events.Event) -> str:
    def default(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        raise TypeError(type(value).__name__)

    return json.dumps({"type": type(event).__name__, **asdict(event)}, default=default)


STAFF_EVENTS = (events.StationOnline, events.StationBooted, events.ConnectorStatus,
                events.SessionStarted, events.SessionMeter, events.SessionStopped,
                events.TagSeen, events.ReaderState)


@routes.get("/events")
@require("desk")
async def event_stream(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events for staff pages: the in-process events, never database polling.
    Desk reader taps go only here (staff), never to driver pages."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    async with request.app[keys.EVENTS].subscribe() as queue:
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except TimeoutError:
                event = None
            try:
                if event is None:
                    await response.write(b": keepalive\n\n")
                elif isinstance(event, STAFF_EVENTS):
                    await response.write(f"data: {_event_json(event)}\n\n".encode())
            except ConnectionResetError:  # the page went away: the stream ends, no error
                return response
