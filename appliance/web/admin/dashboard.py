"""The live site dashboard, and the event stream that keeps staff pages live.

A site may have ten thousand chargers: a load or a live refresh of the dashboard does SQL
counts and sums over the site and reads one page of chargers (problems first, or one kind, or a
search), the newest sessions charging now, and today's totals; the one figure that reads the
whole day's history (hours charging) is worked out at most once a minute."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from dataclasses import asdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from appliance import events, keys
from appliance.db.database import Database
from appliance.reports.overview import KINDS, charging_seconds_today, station_ids
from appliance.reports.overview import dashboard as dashboard_data
from appliance.web import sse
from appliance.web.scope import scope_of
from appliance.web.session import require
from appliance.web.templating import page_site, render

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

HOURS_EVERY_S = 60.0


class HoursToday:
    """Today's hours charging over the installation, kept for a minute: a dashboard open on a
    big site (and its live refreshes) reads the day's status history once a minute at most.
    A figure older than that is shown once more while a new one is worked out in the
    background; only the day's first load waits for it."""

    def __init__(self, every_s: float = HOURS_EVERY_S) -> None:
        self.every_s = every_s
        self._kept: dict[str, tuple[float, str, float]] = {}  # zone -> (at, day, seconds)
        self._lock = asyncio.Lock()
        self._refreshing: dict[str, asyncio.Task[None]] = {}

    async def get(self, database: Database, tz: ZoneInfo) -> float:
        day = datetime.now(tz).date().isoformat()
        kept = self._kept.get(tz.key)
        if kept is not None and kept[1] == day:
            if time.monotonic() - kept[0] > self.every_s and tz.key not in self._refreshing:
                self._refreshing[tz.key] = asyncio.create_task(self._refresh(database, tz, day))
            return kept[2]
        async with self._lock:  # one computation at a time; the others wait for its figure
            kept = self._kept.get(tz.key)
            if kept is None or kept[1] != day:
                await self._compute(database, tz, day)
            return self._kept[tz.key][2]

    async def _compute(self, database: Database, tz: ZoneInfo, day: str) -> None:
        seconds = await database.read(charging_seconds_today, tz)
        self._kept[tz.key] = (time.monotonic(), day, seconds)

    async def _refresh(self, database: Database, tz: ZoneInfo, day: str) -> None:
        try:
            async with self._lock:
                await self._compute(database, tz, day)
        except Exception:  # the next load tries again; the page shows the last figure
            log.warning("hours charging today: not worked out", exc_info=True)
        finally:
            self._refreshing.pop(tz.key, None)


def _page_number(raw: str) -> int:
    try:
        return max(1, int(raw))
    except ValueError:
        return 1


async def _live_data(request: web.Request) -> dict[str, Any]:
    database, tz = request.app[keys.DATABASE], page_site(request).tz
    sites = scope_of(request).sites
    kind = request.query.get("show", "")
    kind = kind if kind in KINDS else ""
    search = request.query.get("q", "").strip()[:48]
    data = await database.read(dashboard_data, tz, sites, kind, search,
                               _page_number(request.query.get("page", "1")))
    totals = data.totals
    if sites is None:
        totals.charging_s = await request.app[keys.HOURS_TODAY].get(database, tz)
    power = request.app[keys.POWER].snapshot
    # What each session may draw, by "CPID/connector" (load management's last allocation).
    allowed = {k: a for group in power.values() for k, a in group["allowed"].items()}
    return {"stations": data.overview.stations, "overview": data.overview, "kind": kind,
            "search": search, "charging": data.charging, "totals": totals, "power": power,
            "allowed": allowed, "site_w": data.drawing_w}


@routes.get("/")
@require("desk")
async def dashboard(request: web.Request) -> web.StreamResponse:
    return render(request, "dashboard.html", await _live_data(request))


@routes.get("/dashboard/live")
@require("desk")
async def dashboard_live(request: web.Request) -> web.StreamResponse:
    """The live part of the dashboard, re-read by the page when an event says it changed (at
    most about once a second, see dashboard.js), with the page's own filter and page number."""
    return render(request, "_dashboard_live.html", await _live_data(request))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


# An event's JSON, made once for every open page that hears it (keyed by the event object,
# which the entry keeps alive so that its id is not reused meanwhile).
_JSON: OrderedDict[int, tuple[events.Event, str]] = OrderedDict()
_JSON_KEPT = 1024


def _event_json(event: events.Event) -> str:
    kept = _JSON.get(id(event))
    if kept is not None and kept[0] is event:
        return kept[1]
    text = json.dumps({"type": type(event).__name__, **asdict(event)}, default=_default)
    _JSON[id(event)] = (event, text)
    if len(_JSON) > _JSON_KEPT:
        _JSON.popitem(last=False)
    return text


STAFF_EVENTS = (events.StationOnline, events.StationBooted, events.ConnectorStatus,
                events.SessionStarted, events.SessionMeter, events.SessionStopped,
                events.TagSeen, events.ReaderState, events.PowerAllocated)


def _newest_meters(batch: list[events.Event]) -> list[events.Event]:
    """A batch of waiting events with each session's meter values only once, its newest (a
    page shows the newest figures; ten thousand chargers send thousands a second)."""
    last = {e.session_id: i for i, e in enumerate(batch) if isinstance(e, events.SessionMeter)}
    return [e for i, e in enumerate(batch)
            if not isinstance(e, events.SessionMeter) or last[e.session_id] == i]


@routes.get("/events")
@require("desk")
async def event_stream(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events for staff pages: the in-process events, never database polling.
    Desk reader taps go only here (staff), never to driver pages. One queue per open page;
    what waited in it goes out in one write."""
    sites = scope_of(request).sites
    mine = None if sites is None else {  # a site's staff hear of their sites' chargers only
        cpid.upper() for cpid in await request.app[keys.DATABASE].read(station_ids, sites)}

    def wanted(event: events.Event) -> bool:
        return isinstance(event, STAFF_EVENTS) and (
            mine is None or str(getattr(event, "station_id", "")).upper() in mine
            or isinstance(event, events.TagSeen | events.ReaderState))

    async with request.app[keys.EVENTS].subscribe() as queue, sse.stream(request) as out:
        while True:
            event = await sse.next_event(queue, sse.KEEPALIVE_S)
            if event is None:
                await out.keepalive()
                continue
            batch = [event]
            while not queue.empty():
                batch.append(queue.get_nowait())
            chosen = [_event_json(e) for e in _newest_meters(batch) if wanted(e)]
            if chosen:
                await out.send_many(chosen)
    return out.response
