"""JSON API for id tags (cards) and the unknown tags seen at chargers."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from appliance import keys
from appliance.billing import cards
from appliance.web.api.base import ApiRoutes, json_body, listing, ok, page, parse_when, take
from appliance.web.audit import record

routes = ApiRoutes()
api = routes.api

CARD_BODY = {
    "type": "object",
    "properties": {
        "id_tag": {"type": "string", "maxLength": 20},
        "status": {"type": "string", "enum": list(cards.STATUSES)},
        "expiry": {"type": ["string", "null"], "format": "date-time"},
        "parent_id_tag": {"type": ["string", "null"], "maxLength": 20},
        "note": {"type": "string"},
        "token_type": {"type": ["string", "null"], "enum": [*cards.TOKEN_TYPES[1:], None],
                       "description": "the kind of token it must come as from an OCPP 2.0.1 "
                                      "charger (null: any)"},
    },
}


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "status" in body:
        out["status"] = take(body, "status", str)
    if "expiry" in body:
        out["expiry"] = parse_when(body["expiry"], "expiry")
    if "parent_id_tag" in body:
        out["parent_id_tag"] = take(body, "parent_id_tag", str) or ""
    if "note" in body:
        out["note"] = take(body, "note", str) or ""
    if "token_type" in body:
        out["token_type"] = take(body, "token_type", str) or ""
    return out


@api("GET", "/cards", "List cards", role="desk",
     query={"q": "part of the id tag or note", "status": "Accepted, Blocked, ...",
            "limit": "at most 500", "cursor": "from next_cursor"}, tag="cards")
async def list_cards(request: web.Request) -> web.Response:
    p = page(request)
    rows = await request.app[keys.DATABASE].read(
        cards.list_cards, p.after, p.limit, request.query.get("q"), request.query.get("status"))
    return listing([r for _, r in rows], p.next_cursor(rows, lambda r: r[0]))


@api("GET", "/cards/unknown", "Tags tried at chargers that no card matches, newest first",
     role="desk", query={"limit": "at most 500"}, tag="cards")
async def list_unknown(request: web.Request) -> web.Response:
    p = page(request)
    return listing(await request.app[keys.DATABASE].read(cards.list_unknown, p.limit), None)


@api("POST", "/cards", "Register a card", role="desk", body=CARD_BODY, tag="cards")
async def create_card(request: web.Request) -> web.Response:
    body = await json_body(request)
    id_tag = cards.check_id_tag(take(body, "id_tag", str, required=True))
    card = await request.app[keys.DATABASE].run(cards.create_card, id_tag, _fields(body))
    await record(request, "card.create", id_tag, body)
    return ok(card, 201)


@api("GET", "/cards/{id_tag}", "One card", role="desk", tag="cards")
async def get_card(request: web.Request) -> web.Response:
    id_tag = request.match_info["id_tag"]
    card = await request.app[keys.DATABASE].read(lambda: cards.card_dict(cards.get_card(id_tag)))
    return ok(card)


@api("PATCH", "/cards/{id_tag}", "Change a card's status, expiry, parent or note", role="desk",
     body=CARD_BODY, tag="cards")
async def patch_card(request: web.Request) -> web.Response:
    id_tag = request.match_info["id_tag"]
    body = await json_body(request)
    card = await request.app[keys.DATABASE].run(cards.update_card, id_tag, _fields(body))
    await record(request, "card.update", id_tag, body)
    return ok(card)


@api("DELETE", "/cards/{id_tag}", "Retire a card (it answers Invalid from now on)", tag="cards")
async def delete_card(request: web.Request) -> web.Response:
    id_tag = request.match_info["id_tag"]
    await request.app[keys.DATABASE].run(cards.retire_card, id_tag)
    await record(request, "card.retire", id_tag, {})
    return web.Response(status=204)
