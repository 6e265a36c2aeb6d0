"""Recording a page's or the API's action in the audit log, as the person or token acting."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from appliance import keys
from appliance.people import audit
from appliance.web.base import audit_actor


async def record(request: web.Request, action: str, target: str, detail: dict[str, Any]) -> None:
    await request.app[keys.DATABASE].run(audit.write, audit_actor(request), action, target, detail)
