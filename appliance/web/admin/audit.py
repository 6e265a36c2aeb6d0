"""The audit log page (admin only)."""

from __future__ import annotations

from aiohttp import web

from appliance import keys
from appliance.people import audit
from appliance.web.session import require
from appliance.web.templating import render

routes = web.RouteTableDef()


@routes.get("/audit")
@require("admin")
async def audit_page(request: web.Request) -> web.StreamResponse:
    rows = await request.app[keys.DATABASE].read(audit.newest, 500)
    return render(request, "audit.html", {"rows": rows})
