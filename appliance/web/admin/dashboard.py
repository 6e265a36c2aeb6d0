"""The live site dashboard, and the event stream that keeps staff pages live.

A site may have ten thousand chargers: a load or a live refresh of the dashboard does SQL
counts over the site and reads one page of chargers (problems first, or one kind, or a search)
and the newest sessions charging now; the figures of the day over the whole site are kept a
while (`TodayFigures`): hours charging a minute, a big site's energy, sessions and fees, and
the power its running sessions draw, a few seconds."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import fields
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from aiohttp import web

from appliance import events, keys
from appliance.db.database import Database
from appliance.reports.overview import (
    KEEP_SUMS_FROM,
    KINDS,
    DaySums,
    Totals,
    charging_seconds_today,
    day_sums,
    station_ids,
)
from appliance.reports.overview import dashboard as dashboard_data
from appliance.web import sse
from appliance.web.admin.kept import Kept
from appliance.web.scope import scope_of
from appliance.web.session import require
from appliance.web.templating import page_site, render

routes = web.RouteTableDef()

HOURS_EVERY_S = 60.0  # hours charging today: read at most once a minute
SUMS_FRESH_S = 5.0  # a big site's energy, sessions and fees today: shown this long as read,
SUMS_STALE_S = 60.0  # then up to this old while the next is read; older ones are waited for


class TodayFigures:
    """The dashboard's figures of the day over the whole site (see web/admin/kept.py): hours
    charging, kept for a minute (they read every connector and the day's status history), and
    a big site's energy, sessions and fees, and the power drawn now, kept a few seconds."""

    def __init__(self, hours_every_s: float = HOURS_EVERY_S) -> None:
        self.hours: Kept[float] = Kept(hours_every_s)
        self.sums: Kept[DaySums] = Kept(SUMS_FRESH_S, SUMS_STALE_S,
                                        lambda sums: sums.sessions >= KEEP_SUMS_FROM)

    async def hours_today(self, database: Database, tz: ZoneInfo) -> float:
        return await self.hours.get(tz.key, _day(tz), lambda: database.read(
            charging_seconds_today, tz))

    async def sums_today(self, database: Database, tz: ZoneInfo,
                         sites: frozenset[int] | None) -> DaySums:
        return await self.sums.get((tz.key, sites), _day(tz), lambda: database.read(
            day_sums, tz, sites))


def _day(tz: ZoneInfo) -> str:
    return datetime.now(tz).date().isoformat()


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
    data = await database.read(dashboard_data, sites, kind, search,
                               _page_number(request.query.get("page", "1")))
    figures = request.app[keys.TODAY_FIGURES]
    sums = await figures.sums_today(database, tz, sites)
    # Hours charging are the installation's; a site's are its nightly figures.
    hours = await figures.hours_today(database, tz) if sites is None else 0.0
    totals = Totals(sums.energy_wh, sums.sessions, hours, data.active, sums.fees_minor)
    power = request.app[keys.POWER].snapshot
    # What each session may draw, by "CPID/connector" (load management's last allocation).
    allowed = {k: a for group in power.values() for k, a in group["allowed"].items()}
    return {"stations": data.overview.stations, "overview": data.overview, "kind": kind,
            "search": search, "charging": data.charging, "totals": totals, "power": power,
            "allowed": allowed, "site_w": sums.drawing_w}


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


# An event's JSON, made once for every open page that hears it (keyed by the event object,
# which the entry keeps alive so that its id is not reused meanwhile).
_JSON: OrderedDict[int, tuple[events.Event, str]] = OrderedDict()
_JSON_KEPT = 1024


_FIELDS: dict[type[events.Event], tuple[str, ...]] = {}  # an event kind's field names


def _event_json(event: events.Event) -> str:
    """{"type": its kind, then its fields}. Not `dataclasses.asdict` and `json`: its deep copy
    of every value made this 20 times dearer, some 25 us an event, thousands a second."""
    kept = _JSON.get(id(event))
    if kept is not None and kept[0] is event:
        return kept[1]
    kind = type(event)
    names = _FIELDS.get(kind)
    if names is None:
        names = _FIELDS[kind] = tuple(f.name for f in fields(event))
    data: dict[str, Any] = {"type": kind.__name__}
    for name in names:
        data[name] = getattr(event, name)
    text = orjson.dumps(data).decode()
    _JSON[id(event)] = (event, text)
    if len(_JSON) > _JSON_KEPT:
        _JSON.popitem(last=False)
    return text


# A staff page's stream writes at most this often: what comes meanwhile goes in the next write.
# At 10,000 chargers some 2,500 events a second came, and the stream woke, encoded and wrote for
# each one: an open dashboard cost the box more than a tenth of a core.
STREAM_EVERY_S = 0.25
STREAM_WAITING = 4096  # events a page's queue holds (a quarter second of 10,000 is ~650)
STAFF_EVENTS = (events.StationOnline, events.StationBooted, events.ConnectorStatus,
                events.SessionStarted, events.SessionMeter, events.SessionStopped,
                events.TagSeen, events.ReaderState, events.PowerAllocated, events.Resync)


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
    Desk reader taps go only here (staff), never to driver pages. One queue per open page,
    which takes only what the page shows; on a busy site what comes within STREAM_EVERY_S of
    the last write goes out together in the next one."""
    sites = scope_of(request).sites
    mine = None if sites is None else {  # a site's staff hear of their sites' chargers only
        cpid.upper() for cpid in await request.app[keys.DATABASE].read(station_ids, sites)}

    def in_scope(event: events.Event) -> bool:
        return mine is None or str(getattr(event, "station_id", "")).upper() in mine \
            or isinstance(event, events.TagSeen | events.ReaderState | events.Resync)

    loop = asyncio.get_running_loop()
    written = loop.time() - STREAM_EVERY_S
    async with request.app[keys.EVENTS].subscribe(
            STAFF_EVENTS, None if mine is None else in_scope, size=STREAM_WAITING) as queue, \
            sse.stream(request) as out:
        while True:
            event = await sse.next_event(queue, sse.KEEPALIVE_S)
            if event is None:
                await out.keepalive()
                continue
            pause = written + STREAM_EVERY_S - loop.time()
            if pause > 0:
                await asyncio.sleep(pause)
            batch = [event]
            while not queue.empty():
                batch.append(queue.get_nowait())
            await out.send_many([_event_json(e) for e in _newest_meters(batch)])
            written = loop.time()
    return out.response
