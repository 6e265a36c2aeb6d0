"""Site settings page (admin only): site name, legal name, tax id, currency, time zone, policies."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from appliance import keys
from appliance.db.site import FIELDS as SITE_FIELDS
from appliance.db.site import save_site
from appliance.errors import ApplianceError
from appliance.web.audit import record
from appliance.web.session import require, staff_actor
from appliance.web.templating import render

routes = web.RouteTableDef()


@routes.get("/settings")
@require("admin")
async def settings_page(request: web.Request) -> web.StreamResponse:
    return await _render_settings(request)


async def _render_settings(request: web.Request, message: str | None = None, ok: bool = True,
                           status: int = 200) -> web.StreamResponse:
    site = request.app[keys.SITE]
    fields = [(name, f.metadata["label"], getattr(site, name), f.type)
              for name, f in SITE_FIELDS.items()]
    return render(request, "settings.html", {"fields": fields, "message": message, "ok": ok},
                  status=status)


@routes.post("/settings")
@require("admin")
async def settings_post(request: web.Request) -> web.StreamResponse:
    from appliance.db.site import defaults_from

    form = {k: str(v) for k, v in (await request.post()).items() if k != "csrf_token"}
    changes: dict[str, Any] = {k: v for k, v in form.items() if k in SITE_FIELDS}
    for name, f in SITE_FIELDS.items():
        if f.type == "bool":
            changes[name] = form.get(name) == "on"
    try:
        request.app[keys.SITE] = await request.app[keys.DATABASE].run(
            save_site, defaults_from(request.app[keys.SETTINGS]), changes, staff_actor(request))
    except ApplianceError as err:
        return await _render_settings(request, err.message, ok=False, status=400)
    await record(request, "site.settings", "site", changes)
    return await _render_settings(request, "Settings saved.")
