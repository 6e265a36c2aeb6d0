"""Tariffs page: every tariff and where it applies; admins create, change and assign them."""

from __future__ import annotations

from decimal import InvalidOperation
from typing import Any

from aiohttp import web

from appliance import keys
from appliance.billing import tariffs
from appliance.errors import ApplianceError
from appliance.web.audit import record
from appliance.web.forms import parse_amount
from appliance.web.session import require
from appliance.web.templating import render

routes = web.RouteTableDef()


@routes.get("/tariffs")
@require("desk")
async def tariffs_page(request: web.Request) -> web.StreamResponse:
    return await _render_tariffs(request)


async def _render_tariffs(request: web.Request, message: str | None = None, ok: bool = True,
                          status: int = 200) -> web.StreamResponse:
    rows = await request.app[keys.DATABASE].read(tariffs.list_tariffs)
    return render(request, "tariffs.html", {"tariffs": rows, "message": message, "ok": ok,
                                            "price_fields": tariffs.PRICE_FIELDS,
                                            "int_fields": tariffs.INT_FIELDS}, status=status)


def _save_tariff(tariff_id: int | None, fields: dict[str, Any], currency: str,
                 assign_to: str | None) -> None:
    if tariff_id is None:
        tariff_id = int(tariffs.create_tariff(fields, currency)["id"])
    else:
        tariffs.update_tariff(tariff_id, fields)
    if assign_to is not None:
        cpid, _, connector = assign_to.partition("/")
        tariffs.assign(tariff_id, cpid or None, int(connector) if connector else None)


@routes.post("/tariffs")
@require("admin")
async def tariffs_post(request: web.Request) -> web.StreamResponse:
    form = {k: str(v) for k, v in (await request.post()).items() if k != "csrf_token"}
    currency = request.app[keys.SITE].currency
    fields: dict[str, Any] = {"name": form.get("name", "")}
    fields.update({f: form.get(f, "0") or "0" for f in tariffs.PRICE_FIELDS})
    try:
        for f in tariffs.INT_FIELDS:
            raw = (form.get(f, "") or "0").strip()
            if f != "min_to_start":
                fields[f] = int(raw)
            else:  # typed in major units like every amount a person types
                fields[f] = parse_amount(raw, currency, f, allow_zero=True)
        fields["prices_include_tax"] = form.get("prices_include_tax") == "on"
        tariff_id = int(form["tariff_id"]) if form.get("tariff_id") else None
        assign_to = form.get("assign_to") if form.get("assign") == "on" else None
        await request.app[keys.DATABASE].run(_save_tariff, tariff_id, fields, currency,
                                             assign_to)
    except (ApplianceError, ValueError, InvalidOperation) as err:
        message = err.message if isinstance(err, ApplianceError) else "numbers only, please"
        return await _render_tariffs(request, message, ok=False, status=400)
    await record(request, "tariff.save", form.get("name", ""), form)
    return await _render_tariffs(request, "Tariff saved.")
