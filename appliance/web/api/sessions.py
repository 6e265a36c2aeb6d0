"""JSON API for charging sessions."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from aiohttp import web

from appliance import keys
from appliance.billing import views
from appliance.charging import history
from appliance.errors import InvalidInput, NotFound
from appliance.web.api.base import ApiRoutes, listing, ok, page
from appliance.web.scope import scope_of
from appliance.web.templating import page_site

routes = ApiRoutes()
api = routes.api


def _local_day(request: web.Request, name: str, end: bool) -> datetime | None:
    """Day filters are local dates, inclusive: turn one into a UTC bound."""
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError as err:
        raise InvalidInput(f"{name} must be a date like 2026-01-31") from err
    if end:
        day += timedelta(days=1)
    tz = page_site(request).tz
    local = datetime.combine(day, time(), tzinfo=tz)
    return local.astimezone(UTC).replace(tzinfo=None)


def _driver(request: web.Request) -> int | None:
    raw = request.query.get("driver_id")
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError as err:
        raise InvalidInput("driver_id must be a number") from err


@api("GET", "/sessions", "Charging sessions, newest first", role="desk",
     query={"station_id": "a station id", "id_tag": "a card", "driver_id": "a driver",
            "from": "local date, inclusive",
            "to": "local date, inclusive", "state": "active, completed or suspect",
            "limit": "at most 500", "cursor": "from next_cursor"}, tag="sessions")
async def list_sessions(request: web.Request) -> web.Response:
    p = page(request)
    rows = await request.app[keys.DATABASE].read(
        history.list_sessions, p.after, p.limit, request.query.get("station_id"),
        request.query.get("id_tag"), _local_day(request, "from", False),
        _local_day(request, "to", True), request.query.get("state"), _driver(request),
        scope_of(request).sites)
    return listing([r for _, r in rows], p.next_cursor(rows, lambda r: r[0]))


@api("GET", "/sessions/{id}", "One session with its meter samples", role="desk",
     tag="sessions")
async def get_session(request: web.Request) -> web.Response:
    try:
        session_id = int(request.match_info["id"])
    except ValueError as err:
        raise NotFound("no such session") from err
    return ok(await request.app[keys.DATABASE].read(views.session_with_cost, session_id))
