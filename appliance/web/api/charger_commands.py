"""JSON API for the charger commands whose answers are kept: reservations, a transaction's
status, variable monitoring, customer information and firmware, as `ChargerControl` verbs
(each OCPP version's module maps them); and the list of those answers with the station's
other reports. 409 offline, 502 CALLERROR, 504 no answer, 400 a verb the charger's version
does not have."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from appliance import keys
from appliance.charging import admin
from appliance.charging.control import Monitor
from appliance.errors import InvalidInput
from appliance.web.api.base import (
    ApiRoutes,
    json_body,
    listing,
    now,
    ok,
    page,
    parse_when,
    take,
)
from appliance.web.audit import record

routes = ApiRoutes()
api = routes.api
TAG = "commands"


async def _station(request: web.Request) -> str:
    cpid = request.match_info["id"]
    await request.app[keys.DATABASE].read(admin.get_station, cpid)
    return cpid


async def _done(request: web.Request, cpid: str, verb: str, details: dict[str, Any],
                answer: dict[str, Any]) -> web.Response:
    await record(request, f"station.{verb}", cpid, {**details, **answer})
    return ok(answer)


@api("GET", "/stations/{id}/answers", "The answers to kept commands (kind answer:<Action>) "
     "and what the charger reported besides charging (firmware, logs, customer information, "
     "monitoring, reservations), newest first", role="desk",
     query={"kind": "a prefix of the kind, e.g. answer: or answer:ReserveNow",
            "limit": "at most 500"}, tag=TAG)
async def answers(request: web.Request) -> web.Response:
    p = page(request, default=100)
    rows = await request.app[keys.DATABASE].read(admin.station_notices, request.match_info["id"],
                                                 p.limit, request.query.get("kind", ""))
    return listing(rows, None)


@api("GET", "/stations/{id}/transaction-status", "Whether a transaction goes on and whether "
     "the charger still holds messages (OCPP 2.0.1 GetTransactionStatus)",
     query={"transaction_id": "our transaction id; without it: any queued messages"}, tag=TAG)
async def transaction_status(request: web.Request) -> web.Response:
    cpid = await _station(request)
    raw = request.query.get("transaction_id")
    if raw is not None and not raw.isdigit():
        raise InvalidInput("transaction_id is a number", details={"field": "transaction_id"})
    got = await request.app[keys.CONTROL].transaction_status(cpid, int(raw) if raw else None)
    return ok({"ongoing": got.ongoing, "messages_in_queue": got.messages_in_queue})


@api("POST", "/stations/{id}/reservations", "Reserve a connector (2.0.1: an EVSE; 0 any) for "
     "a card until expires_at (ReserveNow)", body={"type": "object", "required": [
         "connector_id", "id_tag", "expires_at", "reservation_id"], "properties": {
         "connector_id": {"type": "integer", "minimum": 0}, "id_tag": {"type": "string"},
         "expires_at": {"type": "string", "format": "date-time"},
         "reservation_id": {"type": "integer", "minimum": 1}}}, tag=TAG)
async def reserve(request: web.Request) -> web.Response:
    cpid = await _station(request)
    body = await json_body(request)
    connector = take(body, "connector_id", int, required=True)
    tag = take(body, "id_tag", str, required=True).strip()
    reservation = take(body, "reservation_id", int, required=True)
    expiry = parse_when(take(body, "expires_at", str, required=True), "expires_at")
    if connector < 0 or reservation < 1 or not 0 < len(tag) <= 36 or expiry is None:
        raise InvalidInput("connector_id >= 0, reservation_id >= 1, an id_tag of 1 to 36 "
                           "characters and expires_at are needed")
    status = await request.app[keys.CONTROL].reserve(cpid, connector, tag, expiry, reservation)
    return await _done(request, cpid, "reserve", {"connector_id": connector,
                                                  "reservation_id": reservation},
                       {"status": status})


@api("DELETE", "/stations/{id}/reservations/{reservation_id}", "Cancel a reservation "
     "(CancelReservation)", tag=TAG)
async def cancel_reservation(request: web.Request) -> web.Response:
    cpid = await _station(request)
    raw = request.match_info["reservation_id"]
    if not raw.isdigit():
        raise InvalidInput("reservation_id is a number", details={"field": "reservation_id"})
    status = await request.app[keys.CONTROL].cancel_reservation(cpid, int(raw))
    return await _done(request, cpid, "cancel_reservation", {"reservation_id": int(raw)},
                       {"status": status})


def _monitor(item: Any) -> Monitor:
    if not isinstance(item, dict):
        raise InvalidInput("each monitor is an object", details={"field": "monitors"})
    value = take(item, "value", (int, float), required=True)
    return Monitor(take(item, "key", str, required=True), take(item, "kind", str, required=True),
                   float(value), take(item, "severity", int, default=8),
                   take(item, "id", int))


@api("POST", "/stations/{id}/monitors", "Install variable monitors (OCPP 2.0.1 "
     "SetVariableMonitoring); key as in the configuration (Component/Variable), kind "
     "UpperThreshold, LowerThreshold, Delta, Periodic or PeriodicClockAligned",
     body={"type": "object", "required": ["monitors"], "properties": {"monitors": {
         "type": "array", "items": {"type": "object", "required": ["key", "kind", "value"],
                                    "properties": {"key": {"type": "string"},
                                                   "kind": {"type": "string"},
                                                   "value": {"type": "number"},
                                                   "severity": {"type": "integer"},
                                                   "id": {"type": "integer"}}}}}}, tag=TAG)
async def set_monitors(request: web.Request) -> web.Response:
    cpid = await _station(request)
    items = take(await json_body(request), "monitors", list, required=True)
    if not 0 < len(items) <= 100:
        raise InvalidInput("1 to 100 monitors", details={"field": "monitors"})
    statuses = await request.app[keys.CONTROL].set_monitoring(cpid, [_monitor(m) for m in items])
    return await _done(request, cpid, "set_monitoring", {}, {"statuses": statuses})


@api("POST", "/stations/{id}/monitors/clear", "Remove variable monitors by id (OCPP 2.0.1 "
     "ClearVariableMonitoring)", body={"type": "object", "required": ["ids"], "properties": {
         "ids": {"type": "array", "items": {"type": "integer"}}}}, tag=TAG)
async def clear_monitors(request: web.Request) -> web.Response:
    cpid = await _station(request)
    ids = take(await json_body(request), "ids", list, required=True)
    if not ids or len(ids) > 100 or not all(isinstance(i, int) and not isinstance(i, bool)
                                            for i in ids):
        raise InvalidInput("ids is a list of 1 to 100 monitor ids", details={"field": "ids"})
    statuses = await request.app[keys.CONTROL].clear_monitoring(cpid, ids)
    return await _done(request, cpid, "clear_monitoring", {"ids": ids}, {"statuses": statuses})


@api("POST", "/stations/{id}/monitoring-base", "Which monitors are active: All, "
     "FactoryDefault or HardWiredOnly (OCPP 2.0.1 SetMonitoringBase)",
     body={"type": "object", "required": ["base"], "properties": {"base": {
         "type": "string", "enum": ["All", "FactoryDefault", "HardWiredOnly"]}}}, tag=TAG)
async def monitoring_base(request: web.Request) -> web.Response:
    cpid = await _station(request)
    base = take(await json_body(request), "base", str, required=True)
    status = await request.app[keys.CONTROL].set_monitoring_base(cpid, base)
    return await _done(request, cpid, "monitoring_base", {"base": base}, {"status": status})


@api("POST", "/stations/{id}/customer-information", "What the charger keeps of a card's "
     "holder: report it (NotifyCustomerInformation, listed in answers) and/or clear it "
     "(OCPP 2.0.1 CustomerInformation)", body={"type": "object", "required": ["id_tag"],
                                               "properties": {
         "id_tag": {"type": "string"}, "report": {"type": "boolean"},
         "clear": {"type": "boolean"}}}, tag=TAG)
async def customer_information(request: web.Request) -> web.Response:
    cpid = await _station(request)
    body = await json_body(request)
    tag = take(body, "id_tag", str, required=True).strip()
    report, clear = take(body, "report", bool, default=True), take(body, "clear", bool,
                                                                   default=False)
    if not 0 < len(tag) <= 36 or not (report or clear):
        raise InvalidInput("an id_tag of 1 to 36 characters, and report or clear")
    status = await request.app[keys.CONTROL].customer_information(cpid, tag, report, clear)
    return await _done(request, cpid, "customer_information",
                       {"report": report, "clear": clear}, {"status": status})


@api("POST", "/stations/{id}/firmware", "Have the charger fetch and install firmware from a "
     "URL it can reach (UpdateFirmware); its progress comes as firmware status",
     body={"type": "object", "required": ["location"], "properties": {
         "location": {"type": "string"},
         "retrieve_at": {"type": "string", "format": "date-time"}}}, tag=TAG)
async def update_firmware(request: web.Request) -> web.Response:
    cpid = await _station(request)
    body = await json_body(request)
    location = take(body, "location", str, required=True).strip()
    if not 0 < len(location) <= 512:
        raise InvalidInput("location is a URL of at most 512 characters",
                           details={"field": "location"})
    at = parse_when(take(body, "retrieve_at", str), "retrieve_at") or now()
    status = await request.app[keys.CONTROL].update_firmware(cpid, location, at)
    return await _done(request, cpid, "update_firmware", {"location": location},
                       {"status": status})


@api("POST", "/stations/{id}/firmware/publish", "Have a local controller serve firmware to "
     "the chargers behind it (OCPP 2.0.1 PublishFirmware; checksum: the file's MD5, hex)",
     body={"type": "object", "required": ["location", "checksum"], "properties": {
         "location": {"type": "string"}, "checksum": {"type": "string"}}}, tag=TAG)
async def publish_firmware(request: web.Request) -> web.Response:
    cpid = await _station(request)
    body = await json_body(request)
    location = take(body, "location", str, required=True).strip()
    checksum = take(body, "checksum", str, required=True).strip().lower()
    if not 0 < len(location) <= 512 or len(checksum) != 32 or any(
            c not in "0123456789abcdef" for c in checksum):
        raise InvalidInput("a location of at most 512 characters and a 32-digit hex MD5")
    status = await request.app[keys.CONTROL].publish_firmware(cpid, location, checksum)
    return await _done(request, cpid, "publish_firmware", {"location": location},
                       {"status": status})


@api("GET", "/stations/{id}/configuration", "The charger's configuration: the keys named (1.6 "
     "names, or Component/Variable on 2.0.1; asked in as many messages as the charger takes, "
     "answers merged), or all of it", query={"keys": "comma-separated keys"}, tag=TAG)
async def get_configuration(request: web.Request) -> web.Response:
    cpid = await _station(request)
    names = [k.strip() for k in request.query.get("keys", "").split(",") if k.strip()]
    if len(names) > 500:
        raise InvalidInput("at most 500 keys", details={"field": "keys"})
    got = await request.app[keys.CONTROL].get_configuration(cpid, names or None)
    return ok({"items": [{"key": i.key, "value": i.value, "readonly": i.readonly}
                         for i in got.items], "unknown": got.unknown})


@api("POST", "/stations/{id}/configuration", "Set several configuration values (2.0.1: in as "
     "few SetVariables as the charger's ItemsPerMessage and BytesPerMessage allow); each key's "
     "status. The station's key only by rotate-key", body={
         "type": "object", "required": ["values"], "properties": {"values": {
             "type": "object", "additionalProperties": {"type": "string"}}}}, tag=TAG)
async def change_configuration(request: web.Request) -> web.Response:
    cpid = await _station(request)
    values = take(await json_body(request), "values", dict, required=True)
    if not 0 < len(values) <= 500 or not all(
            isinstance(k, str) and k.strip() and isinstance(v, str) and len(v) <= 2500
            for k, v in values.items()):
        raise InvalidInput("values maps 1 to 500 keys to texts (at most 2500 characters)",
                           details={"field": "values"})
    statuses = await request.app[keys.CONTROL].change_configurations(cpid, values)
    return await _done(request, cpid, "change_configuration", {"keys": sorted(values)},
                       {"statuses": statuses})


@api("POST", "/stations/{id}/report", "What a 2.0.1 charger reports of some components or "
     "variables (Component or Component/Variable; none: all) meeting criteria (Active, "
     "Available, Enabled, Problem): GetReport, split as the charger asks, the entries merged "
     "into its device model and returned", body={"type": "object", "properties": {
         "criteria": {"type": "array", "items": {"type": "string", "enum": [
             "Active", "Available", "Enabled", "Problem"]}},
         "variables": {"type": "array", "items": {"type": "string"}}}}, tag=TAG)
async def device_report(request: web.Request) -> web.Response:
    cpid = await _station(request)
    body = await json_body(request)
    criteria = take(body, "criteria", list, default=[])
    names = take(body, "variables", list, default=[])
    if not all(isinstance(c, str) for c in criteria) or len(names) > 500 or not all(
            isinstance(n, str) and n.strip() for n in names):
        raise InvalidInput("criteria and variables are lists of texts (at most 500 variables)")
    entries = await request.app[keys.CONTROL].device_report(cpid, criteria,
                                                             [n.strip() for n in names])
    return ok({"entries": entries})
