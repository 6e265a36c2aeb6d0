"""The desk's card-issuing page: a card tapped on the box's reader (or typed by a keyboard-wedge
reader) is looked up at once; unknown cards go to a new or an existing driver, known ones open
their driver for a top-up, blocked ones say why. "Learn from a charger" sets the reader's UID
form so the desk writes a card the way the chargers send it."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from aiohttp import web

from appliance import keys
from appliance.billing import accounts
from appliance.billing.cards import list_unknown
from appliance.db.models import IdTag
from appliance.db.site import store_value, stored_value
from appliance.errors import InvalidInput
from appliance.rfid_reader.uid import UidForm, UidFormError, learn_forms
from appliance.web.audit import record
from appliance.web.session import require, staff_actor
from appliance.web.templating import render

routes = web.RouteTableDef()
FORM_KEY = "reader_uid_form"


def _lookup(id_tag: str) -> dict[str, Any]:
    tag = IdTag.get_or_none((IdTag.key == id_tag.upper()) & IdTag.retired_at.is_null())
    if tag is None:
        return {"state": "unknown"}
    info: dict[str, Any] = {"state": "known", "status": tag.status, "mode": tag.mode,
                            "reason": tag.last_refusal or tag.note or "", "driver": None}
    if tag.driver_id is not None:
        info["driver"] = accounts.driver_dict(accounts.get_driver(tag.driver_id))
    if tag.status != "Accepted":
        info["state"] = "blocked"
    elif tag.driver_id is None:
        info["state"] = "unbound"
    return info


@routes.get("/desk")
@require("desk")
async def desk_page(request: web.Request) -> web.StreamResponse:
    id_tag = request.query.get("id_tag", "").strip()
    q = request.query.get("q", "").strip()
    database = request.app[keys.DATABASE]
    found = await database.read(_lookup, id_tag) if id_tag else None
    if found and found["state"] == "known" and found["driver"]:
        # A known card opens its driver: balance, spending records and the top-up form.
        raise web.HTTPSeeOther(f"/drivers/{found['driver']['id']}?tapped={id_tag}")
    drivers = [r for _, r in await database.read(accounts.list_drivers, None, 20, q)] if q \
        else []
    reader = request.app[keys.READER].status() if keys.READER in request.app else None
    return render(request, "desk.html", {"id_tag": id_tag, "found": found, "q": q,
                                         "drivers": drivers, "reader": reader})


def candidates(reads: list[dict[str, Any]], unknown: list[dict[str, Any]]
               ) -> list[dict[str, Any]]:
    """Pairs of (a card tapped at the desk, a tag a charger sent) that are the same card in
    some form: what "learn from a charger" offers staff to confirm."""
    out = []
    for read in reads:
        uid = bytes.fromhex(read["uid"])
        for seen in unknown:
            if seen["source"] == "reader":
                continue
            for form in learn_forms(uid, seen["id_tag"])[:3]:
                out.append({"uid": read["uid"], "sent": seen["id_tag"],
                            "station": seen["station_id"], "form": form,
                            "value": json.dumps({k: str(v) for k, v in asdict(form).items()})})
    return out


@routes.get("/desk/learn")
@require("admin")
async def learn_page(request: web.Request) -> web.StreamResponse:
    return await _render_learn(request)


async def _render_learn(request: web.Request, message: str | None = None) -> web.StreamResponse:
    service = request.app.get(keys.READER)
    reads = service.status()["last_reads"] if service else []
    unknown = await request.app[keys.DATABASE].read(list_unknown, 20)
    return render(request, "desk_learn.html", {
        "pairs": candidates(reads, unknown), "reads": reads, "unknown": unknown,
        "current": service.form.describe() if service else None, "message": message})


@routes.post("/desk/learn")
@require("admin")
async def learn_post(request: web.Request) -> web.StreamResponse:
    form_data = await request.post()
    try:
        form = UidForm(**json.loads(str(form_data.get("form", ""))))
    except (ValueError, TypeError, UidFormError) as err:
        raise InvalidInput("that is not a UID form") from err
    stored = {k: str(v) for k, v in asdict(form).items()}
    await request.app[keys.DATABASE].run(store_value, FORM_KEY, stored, staff_actor(request))
    if keys.READER in request.app:
        request.app[keys.READER].set_form(form)
    await record(request, "reader.uid_form", "desk reader", {"form": form.describe()})
    return await _render_learn(request, f"The desk reader now writes cards as: {form.describe()}")


async def apply_stored_form(app: web.Application) -> None:
    """At start: a form staff confirmed earlier wins over the boot settings."""
    stored = await app[keys.DATABASE].read(stored_value, FORM_KEY)
    form = UidForm(**stored) if stored is not None else None
    if form is not None and keys.READER in app:
        app[keys.READER].set_form(form)
