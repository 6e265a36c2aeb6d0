"""Load management settings (admin): power groups (the whole site's connection or a feeder, a
limit in A per phase or kW, the minimum per session, the chargers' safe default, commercial
sessions first) and which charger is in which group; what each group allows now."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from appliance import events, keys
from appliance.charging import admin
from appliance.errors import N_, ApplianceError
from appliance.power import groups
from appliance.web.audit import record
from appliance.web.session import require
from appliance.web.templating import render

routes = web.RouteTableDef()
NUMBERS = ("limit_a", "limit_kw", "phases", "voltage", "min_a", "default_a")


async def _render(request: web.Request, message: str | None = None, ok: bool = True,
                  status: int = 200) -> web.StreamResponse:
    database = request.app[keys.DATABASE]
    found = await database.read(groups.list_groups)
    stations = await database.read(admin.list_stations, None, 500, True)
    return render(request, "power.html", {
        "groups": found, "now": request.app[keys.POWER].snapshot, "message": message,
        "ok": ok, "stations": stations}, status=status)


@routes.get("/settings/power")
@require("admin")
async def power_page(request: web.Request) -> web.StreamResponse:
    return await _render(request)


def _number(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isdigit() else None


@routes.post("/settings/power")
@require("admin")
async def power_post(request: web.Request) -> web.StreamResponse:
    form = {k: str(v) for k, v in (await request.post()).items() if k != "csrf_token"}
    database = request.app[keys.DATABASE]
    try:
        if form.get("action") == "member":
            await database.run(groups.set_member, form.get("station", ""),
                               form.get("group") or None, _number(form.get("max_a", "")))
        else:
            fields: dict[str, Any] = {k: _number(form.get(k, "")) for k in NUMBERS}
            fields = {k: v for k, v in fields.items()
                      if v is not None or k in ("limit_a", "limit_kw")}
            fields["whole_site"] = form.get("whole_site") == "on"
            fields["commercial_first"] = form.get("commercial_first") == "on"
            await database.run(groups.save_group, form.get("name", ""), fields)
    except ApplianceError as err:
        return await _render(request, err.message, ok=False, status=400)
    await record(request, f"power.{form.get('action') or 'group'}", form.get("name", ""), form)
    request.app[keys.EVENTS].publish(events.PowerConfigChanged())
    return await _render(request, N_("Saved."))
