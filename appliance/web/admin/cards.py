"""Cards page: every card, and the unknown cards chargers saw, with one-click registration."""

from __future__ import annotations

from aiohttp import web

from appliance import keys
from appliance.billing import cards
from appliance.errors import ApplianceError
from appliance.web.audit import record
from appliance.web.session import require
from appliance.web.templating import render

routes = web.RouteTableDef()


@routes.get("/cards")
@require("desk")
async def cards_page(request: web.Request) -> web.StreamResponse:
    return await _render_cards(request)


async def _render_cards(request: web.Request, message: str | None = None, ok: bool = True,
                        status: int = 200) -> web.StreamResponse:
    q = request.query.get("q") or None
    database = request.app[keys.DATABASE]
    rows = await database.read(cards.list_cards, None, 500, q, request.query.get("status") or None)
    unknown = await database.read(cards.list_unknown, 50)
    return render(request, "cards.html", {"cards": [r for _, r in rows], "unknown": unknown,
                                          "q": q or "", "message": message, "ok": ok,
                                          "statuses": cards.STATUSES}, status=status)


@routes.post("/cards")
@require("desk")
async def cards_post(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    id_tag, action = str(form.get("id_tag", "")).strip(), str(form.get("action", "create"))
    database = request.app[keys.DATABASE]
    try:
        if action == "create":
            cards.check_id_tag(id_tag)
            await database.run(cards.create_card, id_tag, {"note": str(form.get("note", ""))})
        else:
            await database.run(cards.update_card, id_tag, {"status": str(form.get("status"))})
    except ApplianceError as err:
        return await _render_cards(request, err.message, ok=False, status=400)
    await record(request, f"card.{action}", id_tag, {k: str(v) for k, v in form.items()
                                                     if k != "csrf_token"})
    return await _render_cards(request, f"{id_tag}: saved.")
