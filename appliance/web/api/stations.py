"""JSON API for stations: CRUD, approval, recent frames and the raw OCPP command endpoint."""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

from aiohttp import web

from appliance import keys
from appliance.billing.commands import check_raw_command
from appliance.charging import admin, certificates, stations, upgrade
from appliance.charging.control import Trigger
from appliance.db.site import get_site, move_station
from appliance.errors import ApplianceError, Conflict, InvalidInput
from appliance.web.api.base import (
    ApiRoutes,
    json_body,
    listing,
    ok,
    page,
    take,
)
from appliance.web.audit import record
from appliance.web.base import audit_actor
from appliance.web.scope import scope_of

routes = ApiRoutes()
api = routes.api

log = logging.getLogger(__name__)

STATION_BODY = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "maxLength": 48},
        "password": {"type": "string", "minLength": 8, "maxLength": 40, "writeOnly": True},
        "description": {"type": "string"},
        "approved": {"type": "boolean"},
        "auth_mode": {"type": "string", "enum": ["basic", "none"]},
        "managed": {"type": "boolean"},
        "allow_no_subprotocol": {"type": "boolean"},
        "site_id": {"type": "integer", "description": "its site (a charger that connected "
                                                      "unknown waits in site 1)"},
        "ocpp_pin": {"type": "string", "enum": ["", "1.6", "2.0.1"],
                     "description": "keep the charger on one OCPP version (\"\": prefer "
                                    "2.0.1 when it offers both)"},
        "max_power_w": {"type": ["integer", "null"],
                        "description": "the most it delivers (W); energy beyond it is flagged"},
    },
}


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, kind in (("description", str), ("approved", bool), ("auth_mode", str),
                       ("managed", bool), ("allow_no_subprotocol", bool), ("password", str),
                       ("max_power_w", int), ("ocpp_pin", str)):
        value = take(body, name, kind)
        if value is not None:
            out[name] = value
    return out


@api("GET", "/stations", "List stations with their connectors' live state", role="desk",
     query={"approved": "true or false", "limit": "at most 500", "cursor": "from next_cursor"},
     tag="stations")
async def list_stations(request: web.Request) -> web.Response:
    p = page(request)
    approved = {"true": True, "false": False}.get(request.query.get("approved", ""))
    rows = await request.app[keys.DATABASE].read(admin.list_stations, p.after, p.limit, approved,
                                                 scope_of(request).sites)
    cursor = p.next_cursor(rows, lambda r: r["_row"])
    for r in rows:
        r.pop("_row")
    return listing(rows, cursor)


@api("POST", "/stations", "Register a station (security profile 1: Basic auth password)",
     body=STATION_BODY, tag="stations")
async def create_station(request: web.Request) -> web.Response:
    body = await json_body(request)
    cpid = take(body, "id", str, required=True)
    site_id = take(body, "site_id", int)
    database = request.app[keys.DATABASE]
    if site_id is not None:
        await database.run(get_site, site_id)  # (a clear error before anything is made)
    station = await database.run(admin.create_station, cpid, _fields(body))
    if site_id is not None:
        await database.run(move_station, cpid, site_id)
    await record(request, "station.create", cpid, {k: v for k, v in body.items()
                                                   if k != "password"})
    return ok(station, 201)


@api("GET", "/stations/{id}", "One station", role="desk", tag="stations")
async def get_station(request: web.Request) -> web.Response:
    cpid = request.match_info["id"]
    station = await request.app[keys.DATABASE].read(admin.station_detail, cpid)
    return ok(station)


@api("PATCH", "/stations/{id}", "Change a station; approving an online one makes it reboot "
     "into Accepted", body=STATION_BODY, tag="stations")
async def patch_station(request: web.Request) -> web.Response:
    cpid = request.match_info["id"]
    body = await json_body(request)
    fields = _fields(body)
    database = request.app[keys.DATABASE]
    site_id = take(body, "site_id", int)
    if site_id is not None:  # a pending charger goes to the site chosen at its approval
        if not scope_of(request).allows(site_id):
            raise InvalidInput("site_id: no such site", details={"field": "site_id"})
        await database.run(move_station, cpid, site_id)
        await record(request, "station.site", cpid, {"site_id": site_id})
    done = []
    if fields.get("approved") and not fields.get("password") \
            and await database.read(admin.approval_needs_key, cpid):
        done = await key_before_approval(request.app, cpid)
    try:
        station, approved_now = await database.run(admin.update_station, cpid, fields)
    except Conflict as err:  # it took no key: it stays pending, and staff are told why
        await record(request, "station.approval_refused", cpid, {"commands": done})
        err.details["commands"] = done
        raise
    await record(request, "station.update", cpid, {k: v for k, v in fields.items()
                                                   if k != "password"})
    if approved_now:
        station["commands"] = done + await after_approval(request.app, station)
    return ok(station)


async def key_before_approval(app: web.Application, cpid: str) -> list[str]:
    """A pending charger with no key is given one before it is approved (an approved station
    with no key would let anyone connect under its id)."""
    if not app[keys.CONTROL].is_online(cpid):
        return ["not connected: no key could be set"]
    what = "ChangeConfiguration AuthorizationKey"
    try:
        what = await _key_command(app, cpid)
        return [f"{what}: {await _new_key(app, cpid)}"]
    except ApplianceError as err:
        log.warning("%s: key before approval: %s", cpid, err.message)
        return [f"{what} failed: {err.message}"]


async def _key_command(app: web.Application, cpid: str) -> str:
    """How the charger's version names the key change (for the staff's list of commands)."""
    station = await app[keys.DATABASE].read(admin.get_station, cpid)
    return "SetVariables SecurityCtrlr/BasicAuthPassword" if station.ocpp_version == "2.0.1" \
        else "ChangeConfiguration AuthorizationKey"


async def after_approval(app: web.Application, station: dict[str, Any]) -> list[str]:
    """A newly approved online charger is asked to boot (its key came before approval)."""
    control, cpid = app[keys.CONTROL], station["id"]
    if not control.is_online(cpid):
        return []
    done = []
    try:
        status = await control.trigger(cpid, Trigger.BOOT)
        done.append(f"TriggerMessage BootNotification: {status}")
    except ApplianceError as err:
        log.warning("%s: after approval: %s", cpid, err.message)
        done.append(f"failed: {err.message}")
    return done


async def _new_key(app: web.Application, cpid: str) -> str:
    """Send the charger a new random key (20 bytes, hex: 1.6's AuthorizationKey, 2.0.1's
    BasicAuthPassword, by the `set_auth_key` verb); keep it only when the
    charger accepts it, the old key working until its first login with the new one."""
    key = secrets.token_bytes(20)
    status = await app[keys.CONTROL].set_auth_key(cpid, key.hex())
    if status in ("Accepted", "RebootRequired"):
        station = await app[keys.DATABASE].read(admin.get_station, cpid)
        await app[keys.DATABASE].run(stations.rotate_key, station.id, key)
    return status


@api("POST", "/stations/{id}/rotate-key", "Give an online charger a new key (1.6 "
     "AuthorizationKey, 2.0.1 BasicAuthPassword) "
     "(security profile 1); the old key works until its first login with the new one",
     body={"type": "object"}, tag="stations")
async def rotate_key(request: web.Request) -> web.Response:
    cpid = request.match_info["id"]
    await request.app[keys.DATABASE].read(admin.get_station, cpid)
    status = await _new_key(request.app, cpid)
    await record(request, "station.rotate_key", cpid, {"status": status})
    return ok({"status": status})


@api("DELETE", "/stations/{id}", "Retire a station (its history stays)", tag="stations")
async def delete_station(request: web.Request) -> web.Response:
    cpid = request.match_info["id"]
    await request.app[keys.DATABASE].run(admin.retire_station, cpid)
    await record(request, "station.retire", cpid, {})
    return web.Response(status=204)


@api("GET", "/stations/{id}/messages", "Recent OCPP frames in and out, newest first",
     role="desk", query={"limit": "at most 500"}, tag="stations")
async def station_messages(request: web.Request) -> web.Response:
    p = page(request, default=100)
    frames = await request.app[keys.DATABASE].read(admin.recent_frames,
                                                   request.match_info["id"], p.limit)
    return listing(frames, None)


@api("GET", "/stations/{id}/security", "Security profile, an upgrade under way, certificates "
     "the site CA signed for the station and certificate commands with their results",
     role="desk", tag="stations")
async def station_security(request: web.Request) -> web.Response:
    database = request.app[keys.DATABASE]
    station_id = await database.read(certificates.station_id_of, request.match_info["id"])
    view = await database.read(certificates.security_view, station_id)
    return ok({"security_profile": view.profile, "profile_target": view.target or None,
               "note": view.note, "certificates": view.certificates,
               "commands": view.commands})


# What changes a charger's security profile: 1.6's key, 2.0.1's network profile, its order, and
# 2.0.1's (read-only) SecurityProfile variable.
PROFILE_VARIABLES = {("securityctrlr", "securityprofile"),
                     ("ocppcommctrlr", "networkconfigurationpriority")}


def changes_profile(action: str, payload: dict[str, Any]) -> bool:
    """Whether a raw command would change the security profile behind the box's back."""
    if action == "ChangeConfiguration":
        return str(payload.get("key", "")).lower() == "securityprofile"
    if action == "SetNetworkProfile":
        return True
    if action == "SetVariables":
        return any((str((d.get("component") or {}).get("name", "")).lower(),
                    str((d.get("variable") or {}).get("name", "")).lower()) in PROFILE_VARIABLES
                   for d in payload.get("setVariableData") or [] if isinstance(d, dict))
    return False


PROFILE_BODY = {
    "type": "object", "required": ["profile"],
    "properties": {"profile": {"type": "integer", "enum": [2, 3],
                               "description": "the station's profile + 1"}},
}


@api("POST", "/stations/{id}/security-profile", "Raise an online station's security profile "
     "one step (2: the site CA goes on the charger first; 3: it needs a certificate the site CA "
     "signed). 200 with the charger's answer; whether it came back at the new profile or fell "
     "back shows in GET /stations/{id}/security. Lowering is the pages' audited reset",
     body=PROFILE_BODY, tag="stations")
async def raise_security_profile(request: web.Request) -> web.Response:
    cpid = request.match_info["id"]
    target = take(await json_body(request), "profile", int, required=True)
    root = await asyncio.to_thread(request.app[keys.TLS].root_for_chargers)
    await record(request, "station.security.raise", cpid, {"profile": target})
    status = await upgrade.raise_profile(request.app[keys.CONTROL], request.app[keys.DATABASE],
                                         root, cpid, target, audit_actor(request))
    return ok({"status": status, "profile_target": target})


@api("POST", "/stations/{id}/ocpp/{action}", "Send any call of the OCPP version the charger "
     "speaks now (1.6 or 2.0.1, its station's ocpp_version); the body is its payload. "
     "409 offline, 502 CALLERROR, 504 no answer, 400 an action of the other version or a "
     "payload that fails the version's schema",
     body={"type": "object"}, tag="commands")
async def raw_command(request: web.Request) -> web.Response:
    cpid, action = request.match_info["id"], request.match_info["action"]
    payload = await json_body(request)
    await request.app[keys.DATABASE].read(admin.get_station, cpid)
    # decide() notes unknown tags, so this runs on the writer, not a read-only connection.
    await request.app[keys.DATABASE].run(check_raw_command, cpid, action, payload)
    if action == "ChangeConfiguration" and payload.get("key") == "AuthorizationKey":
        raise InvalidInput("the AuthorizationKey is changed with POST /stations/{id}/rotate-key, "
                           "which keeps the old key working until the charger uses the new one")
    if changes_profile(action, payload):
        raise InvalidInput(f"{action} changes the charger's security profile: use POST "
                           "/stations/{id}/security-profile, which installs the CA first, "
                           "records the change and notes when the charger falls back")
    await record(request, "station.command", cpid, {"action": action,
                                                   "actor": audit_actor(request)})
    answer = await request.app[keys.CONTROL].raw(cpid, action, payload)
    return ok(answer)
