"""JSON API for load management: power groups (a limit for the whole site or one feeder), which
charger is in which, what each session may draw now, and the report of what chargers did while
the box was away."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from appliance import events, keys
from appliance.billing import offline
from appliance.db.models import utcnow
from appliance.power import groups
from appliance.web.api.base import ApiRoutes, json_body, ok, parse_when, take
from appliance.web.audit import record

routes = ApiRoutes()
api = routes.api

NUMBER = {"type": ["integer", "null"], "minimum": 0}
GROUP_BODY = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 64},
        "whole_site": {"type": "boolean"},
        "limit_a": NUMBER, "limit_kw": NUMBER, "phases": {"type": "integer", "enum": [1, 3]},
        "voltage": NUMBER, "min_a": NUMBER, "default_a": NUMBER,
        "commercial_first": {"type": "boolean"},
    },
}
MEMBER_BODY = {"type": "object", "properties": {"group": {"type": ["string", "null"]},
                                                "max_a": NUMBER}}


def _changed(request: web.Request) -> None:
    request.app[keys.EVENTS].publish(events.PowerConfigChanged())


@api("GET", "/power/groups", "Power groups and their current allocation", tag="power")
async def list_groups(request: web.Request) -> web.Response:
    found = await request.app[keys.DATABASE].read(groups.list_groups)
    live = request.app[keys.POWER].snapshot
    return ok({"items": [{**g, "now": live.get(g["name"])} for g in found]})


@api("PUT", "/power/groups/{name}", "Create or change a power group", body=GROUP_BODY,
     tag="power")
async def put_group(request: web.Request) -> web.Response:
    body: dict[str, Any] = await json_body(request)
    name = request.match_info["name"]
    group = await request.app[keys.DATABASE].run(groups.save_group, name, body)
    await record(request, "power.group", name, body)
    _changed(request)
    return ok(group)


@api("PUT", "/stations/{id}/power", "Put a charger in a power group (null: the whole site's)",
     body=MEMBER_BODY, tag="power")
async def put_member(request: web.Request) -> web.Response:
    body: dict[str, Any] = await json_body(request)
    cpid = request.match_info["id"]
    member = await request.app[keys.DATABASE].run(
        groups.set_member, cpid, take(body, "group", str), take(body, "max_a", int))
    await record(request, "power.member", cpid, body)
    _changed(request)
    return ok(member)


@api("GET", "/offline-report", "Sessions chargers started while they could not reach the box",
     query={"since": "RFC 3339 time (default: the last 7 days)"}, tag="power")
async def offline_report(request: web.Request) -> web.Response:
    since = request.query.get("since")
    start = parse_when(since, "since") if since else utcnow() - timedelta(days=7)
    return ok({"items": await request.app[keys.DATABASE].read(offline.away_report, start)})
