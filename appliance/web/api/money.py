"""JSON API for money: drivers, their cards, top-ups, ledger, refunds and adjustments, tariffs.
Every request that changes money honours an `Idempotency-Key` header."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web

from appliance import keys
from appliance.billing import accounts, idempotency, ledger, quotes, tariffs
from appliance.db.models import utcnow
from appliance.errors import InvalidInput, NotFound
from appliance.web.api.base import (
    ApiRoutes,
    json_body,
    json_default,
    listing,
    ok,
    page,
    parse_when,
    take,
)
from appliance.web.audit import record, row_for
from appliance.web.base import PRINCIPAL, audit_actor
from appliance.web.scope import own_site, scope_of

routes = ApiRoutes()
api = routes.api

MONEY = {"type": "object", "properties": {"amount": {"type": "integer"},
                                          "currency": {"type": "string"}}}
DRIVER_BODY = {"type": "object", "properties": {
    "name": {"type": "string"}, "phone": {"type": "string"}, "email": {"type": "string"},
    "note": {"type": "string"}, "language": {"type": "string"}, "blocked": {"type": "boolean"},
    "price_group": {"type": "string", "description": "fleet, employees, ...: group tariffs"},
    "overdraft": {"type": ["integer", "null"], "description": "minor units; null: site default"}}}
CARD_BODY = {"type": "object", "required": ["id_tag", "mode"], "properties": {
    "id_tag": {"type": "string", "maxLength": 20},
    "mode": {"type": "string", "enum": list(accounts.MODES)},
    "replaces": {"type": "string", "description": "a lost card of this driver, Blocked now"}}}
TOPUP_BODY = {"type": "object", "required": ["amount", "method"], "properties": {
    "amount": {"type": "integer", "description": "minor units, > 0"},
    "method": {"type": "string", "enum": list(ledger.METHODS)},
    "receipt_no": {"type": "string"}, "note": {"type": "string"}}}
CORRECTION_BODY = {"type": "object", "required": ["amount", "reason"], "properties": {
    "amount": {"type": "integer", "description": "minor units, signed for adjustments"},
    "reason": {"type": "string"}, "session_id": {"type": "integer"}}}
TARIFF_BODY = {"type": "object", "properties": {
    "name": {"type": "string"},
    **{f: {"type": "string", "description": "decimal, up to 4 decimals"}
       for f in tariffs.PRICE_FIELDS},
    **{f: {"type": "integer"} for f in tariffs.INT_FIELDS},
    "prices_include_tax": {"type": "boolean"},
    "bands": {"type": "array", "description": "time-of-day and day-type bands, first match wins",
              "items": {"type": "object", "properties": {
                  "name": {"type": "string"},
                  "days": {"type": "string", "enum": ["all", "weekday", "weekend", "holiday"]},
                  "start": {"type": "string", "description": "HH:MM, site time"},
                  "end": {"type": "string", "description": "HH:MM; before start: past midnight"},
                  "energy_per_kwh": {"type": "string"}, "time_per_hour": {"type": "string"}}}}}}
ASSIGN_BODY = {"type": "object", "properties": {
    "station_id": {"type": ["string", "null"], "description": "null: the site default"},
    "connector_id": {"type": ["integer", "null"]},
    "group": {"type": ["string", "null"], "description": "a driver group (fleet, employees, "
              "...); null: everyone"}}}
IDEMPOTENT = " Honours an Idempotency-Key header."


def _id(request: web.Request, name: str = "id") -> int:
    try:
        return int(request.match_info[name])
    except ValueError as err:
        raise NotFound(f"no such {name}") from err


def _encode(data: Any) -> str:
    return json.dumps(data, default=json_default)


async def money_call(request: web.Request, body: dict[str, Any],
                     work: Callable[[str], Any], action: str, target: str,
                     status: int = 201) -> web.Response:
    """Run a money change, its audit row (`action` on `target`) and the storing of its answer
    under the Idempotency-Key in one database call: one trip through the writer, one
    transaction. A replay answers as the first time and changes nothing, not even the audit
    log. `work` gets the key-derived part of the ledger reference."""
    principal = request[PRINCIPAL].name
    audited = await row_for(request, action, target, body)
    key = request.headers.get("Idempotency-Key")

    def recorded(ref: str) -> Any:
        result = work(ref)
        audited()
        return result

    if key is None:
        def plain() -> Any:
            return recorded(f"{principal}:{uuid.uuid4().hex}")

        return ok(await request.app[keys.DATABASE].run_first(plain), status)
    req = idempotency.Request(principal, request.method, request.path,
                              idempotency.check_key(key), body)

    def keyed() -> tuple[int, Any]:
        return idempotency.once(req, lambda: (status, recorded(f"{principal}:{req.key}")),
                                _encode)

    code, data = await request.app[keys.DATABASE].run_first(keyed)
    return ok(data, code)


# --- drivers ----------------------------------------------------------------------------------
@api("GET", "/drivers", "List drivers; search by name, phone or card", role="desk",
     query={"q": "part of a name, phone or card UID", "limit": "at most 500",
            "cursor": "from next_cursor"}, tag="drivers")
async def list_drivers(request: web.Request) -> web.Response:
    p = page(request)
    rows = await request.app[keys.DATABASE].read(accounts.list_drivers, p.after, p.limit,
                                                 request.query.get("q"))
    return listing([r for _, r in rows], p.next_cursor(rows, lambda r: r[0]))


@api("POST", "/drivers", "Register a driver (with an account in the site currency)",
     role="desk", body=DRIVER_BODY, tag="drivers")
async def create_driver(request: web.Request) -> web.Response:
    body = await json_body(request)
    currency = request.app[keys.SITE].currency
    driver = await request.app[keys.DATABASE].run(accounts.create_driver, body, currency)
    await record(request, "driver.create", str(driver["id"]), body)
    return ok(driver, 201)


@api("GET", "/drivers/{id}", "One driver with balance, held, available and debt", role="desk",
     tag="drivers")
async def get_driver(request: web.Request) -> web.Response:
    driver_id = _id(request)
    return ok(await request.app[keys.DATABASE].read(
        lambda: accounts.driver_dict(accounts.get_driver(driver_id))))


@api("PATCH", "/drivers/{id}", "Change a driver", role="desk", body=DRIVER_BODY, tag="drivers")
async def patch_driver(request: web.Request) -> web.Response:
    body = await json_body(request)
    driver = await request.app[keys.DATABASE].run(accounts.update_driver, _id(request), body)
    await record(request, "driver.update", str(driver["id"]), body)
    return ok(driver)


@api("DELETE", "/drivers/{id}", "Retire a driver (history stays, cards stop)", tag="drivers")
async def delete_driver(request: web.Request) -> web.Response:
    await request.app[keys.DATABASE].run(accounts.retire_driver, _id(request))
    await record(request, "driver.retire", request.match_info["id"], {})
    return web.Response(status=204)


@api("GET", "/drivers/{id}/cards", "A driver's cards", role="desk", tag="drivers")
async def list_driver_cards(request: web.Request) -> web.Response:
    rows = await request.app[keys.DATABASE].read(accounts.driver_cards, _id(request))
    return listing(rows, None)


@api("POST", "/drivers/{id}/cards", "Bind a card to a driver, or re-issue a lost one",
     role="desk", body=CARD_BODY, tag="drivers")
async def bind_card(request: web.Request) -> web.Response:
    body = await json_body(request)
    card = await request.app[keys.DATABASE].run(
        accounts.bind_card, _id(request), take(body, "id_tag", str, required=True),
        take(body, "mode", str, required=True), take(body, "replaces", str))
    await record(request, "driver.card", request.match_info["id"], body)
    return ok(card, 201)


# --- money ------------------------------------------------------------------------------------
@api("POST", "/drivers/{id}/topups", "Top up a driver's balance." + IDEMPOTENT, role="desk",
     body=TOPUP_BODY, tag="money")
async def topup(request: web.Request) -> web.Response:
    body = await json_body(request)
    driver_id, actor = _id(request), audit_actor(request)
    amount = take(body, "amount", int, required=True)
    method = take(body, "method", str, required=True)
    receipt, note = take(body, "receipt_no", str, default=""), take(body, "note", str, default="")
    return await money_call(request, body, lambda ref: accounts.topup(
        driver_id, amount, method, receipt, f"topup:{ref}", actor, note),
        "money.topup", str(driver_id))


async def _correction(request: web.Request, kind: str) -> web.Response:
    body = await json_body(request)
    driver_id, actor = _id(request), audit_actor(request)
    amount = take(body, "amount", int, required=True)
    reason = take(body, "reason", str, required=True)
    session_id = take(body, "session_id", int)
    return await money_call(request, body, lambda ref: accounts.correct(
        driver_id, kind, amount, reason, f"{kind}:{session_id or '-'}:{ref}", actor,
        session_id), f"money.{kind}", str(driver_id))


@api("POST", "/drivers/{id}/adjustments", "Adjust a balance, with a reason." + IDEMPOTENT,
     body=CORRECTION_BODY, tag="money")
async def adjustment(request: web.Request) -> web.Response:
    return await _correction(request, "adjustment")


@api("POST", "/drivers/{id}/refunds", "Refund (part of) a session's fee, with a reason."
     + IDEMPOTENT, body=CORRECTION_BODY, tag="money")
async def refund(request: web.Request) -> web.Response:
    return await _correction(request, "refund")


@api("GET", "/drivers/{id}/ledger", "A driver's ledger, oldest first, with running balance",
     role="desk", query={"limit": "at most 500", "cursor": "from next_cursor"}, tag="money")
async def driver_ledger(request: web.Request) -> web.Response:
    p = page(request)
    rows = await request.app[keys.DATABASE].read(accounts.driver_ledger, _id(request), p.after,
                                                 p.limit)
    return listing(rows, p.next_cursor(rows, lambda r: r["id"]))


# --- tariffs ----------------------------------------------------------------------------------
@api("GET", "/tariffs", "Tariffs with where each applies", role="desk", tag="tariffs")
async def list_tariffs(request: web.Request) -> web.Response:
    return listing(await request.app[keys.DATABASE].read(tariffs.list_tariffs,
                                                         scope_of(request).sites), None)


@api("POST", "/tariffs", "Create a tariff in the site currency", body=TARIFF_BODY,
     tag="tariffs")
async def create_tariff(request: web.Request) -> web.Response:
    body = await json_body(request)
    site_id = take(body, "site_id", int) or own_site(request)
    if not scope_of(request).allows(site_id):
        raise InvalidInput("site_id: no such site", details={"field": "site_id"})
    tariff = await request.app[keys.DATABASE].run(tariffs.create_tariff, body,
                                                  request.app[keys.SITE].currency,
                                                  audit_actor(request), site_id)
    await record(request, "tariff.create", str(tariff["id"]), body)
    return ok(tariff, 201)


@api("GET", "/tariffs/{id}", "One tariff with its history (every saved version)", role="desk",
     tag="tariffs")
async def get_tariff(request: web.Request) -> web.Response:
    tariff_id = _id(request)
    return ok(await request.app[keys.DATABASE].read(
        lambda: tariffs.tariff_dict(tariffs.get_tariff(tariff_id), history=True)))


@api("PATCH", "/tariffs/{id}", "Change a tariff (running sessions keep their snapshot)",
     body=TARIFF_BODY, tag="tariffs")
async def patch_tariff(request: web.Request) -> web.Response:
    body = await json_body(request)
    tariff = await request.app[keys.DATABASE].run(tariffs.update_tariff, _id(request), body,
                                                  audit_actor(request))
    await record(request, "tariff.update", str(tariff["id"]), body)
    return ok(tariff)


@api("POST", "/tariffs/{id}/assignments", "Apply a tariff to the site (no station), a station, "
     "or one connector", body=ASSIGN_BODY, tag="tariffs")
async def assign_tariff(request: web.Request) -> web.Response:
    body = await json_body(request)
    tariff = await request.app[keys.DATABASE].run(
        tariffs.assign, _id(request), take(body, "station_id", str),
        take(body, "connector_id", int), take(body, "group", str))
    await record(request, "tariff.assign", request.match_info["id"], body)
    return ok(tariff, 201)


@api("GET", "/tariff-assignments", "Who pays what where: every assignment, most specific first",
     role="desk", tag="tariffs")
async def who_pays(request: web.Request) -> web.Response:
    return listing(await request.app[keys.DATABASE].read(
        tariffs.who_pays, request.app[keys.SITE].currency, scope_of(request).sites), None)


@api("DELETE", "/tariff-assignments", "Take a tariff away from the site (no station_id), a "
     "station or one connector, for everyone or one driver group; sessions already started "
     "keep the tariff version they started with", tag="tariffs",
     query={"station_id": "a charger; none: the site default", "connector_id": "a connector",
            "group": "a driver group; none: everyone's"})
async def unassign_tariff(request: web.Request) -> web.Response:
    where = {"station_id": request.query.get("station_id") or None,
             "connector_id": _int_query(request, "connector_id", None),
             "group": request.query.get("group") or None}
    removed = await request.app[keys.DATABASE].run(
        tariffs.unassign, where["station_id"], where["connector_id"], where["group"])
    await record(request, "tariff.unassign", str(removed["tariff"]["id"]), where)
    return ok(removed)


def _int_query(request: web.Request, name: str, default: int | None) -> int | None:
    raw = request.query.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as err:
        raise InvalidInput(f"{name} must be a whole number", details={"field": name}) from err


@api("GET", "/stations/{id}/price", "The price a driver pays here: the tariff that applies "
     "(most specific: connector, station, site; a driver group's first), the unit prices in "
     "force at `at`, and an example session's cost by the same function as receipts",
     role="desk", tag="tariffs",
     query={"connector": "a connector (optional)", "at": "RFC 3339; default now",
            "group": "a driver group (fleet, employees, ...)",
            "energy_wh": f"example energy (default {quotes.EXAMPLE_WH})",
            "duration_s": f"example duration (default {quotes.EXAMPLE_S})"})
async def price_preview(request: web.Request) -> web.Response:
    ask = quotes.Ask(request.match_info["id"], _int_query(request, "connector", None),
                     parse_when(request.query.get("at"), "at") or utcnow(),
                     request.query.get("group", "").strip().lower()[:40],
                     _int_query(request, "energy_wh", quotes.EXAMPLE_WH) or 0,
                     _int_query(request, "duration_s", quotes.EXAMPLE_S) or 0)
    return ok(await request.app[keys.DATABASE].read(quotes.quote, ask,
                                                    request.app[keys.SITE].currency))
