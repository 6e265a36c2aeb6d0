"""The audit log page (admin only)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from appliance import keys
from appliance.people import audit
from appliance.web.scope import scope_of
from appliance.web.session import require
from appliance.web.templating import render

routes = web.RouteTableDef()


HIDDEN = ("csrf_token", "form_key", "confirmed", "password")  # nothing a reader needs


def _fields(detail: str) -> list[tuple[str, Any]]:
    """An audit row's detail as (name, value) pairs a person reads."""
    try:
        data = json.loads(detail) if detail else {}
    except ValueError:
        return [("detail", detail)]
    if not isinstance(data, dict):
        return [("detail", data)]
    return [(k, v) for k, v in data.items() if k not in HIDDEN and v not in ("", None)]


@routes.get("/audit")
@require("admin")
async def audit_page(request: web.Request) -> web.StreamResponse:
    rows = await request.app[keys.DATABASE].read(audit.newest, 500, scope_of(request).sites)
    return render(request, "audit.html", {"rows": [
        {"at": r.at, "actor": r.actor, "action": r.action, "target": r.target,
         "fields": _fields(r.detail)} for r in rows]})
