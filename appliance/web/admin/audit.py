"""The audit log page (admin only)."""

from __future__ import annotations

from aiohttp import web

from appliance import keys
from appliance.db.models import AuditLog
from appliance.web.session import require
from appliance.web.templating import render

routes = web.RouteTableDef()


def _audit(limit: int) -> list[AuditLog]:
    return list(AuditLog.select().order_by(AuditLog.id.desc()).limit(limit))


@routes.get("/audit")
@require("admin")
async def audit_page(request: web.Request) -> web.StreamResponse:
    rows = await request.app[keys.DATABASE].read(_audit, 500)
    return render(request, "audit.html", {"rows": rows})
