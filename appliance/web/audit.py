"""The audit log: every change a staff member or token makes, who, what, when."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from appliance import keys
from appliance.db.models import AuditLog
from appliance.web.base import audit_actor


def _write(actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
    AuditLog.create(actor=actor, action=action, target=target[:120],
                    detail=json.dumps(detail, default=str))


async def record(request: web.Request, action: str, target: str, detail: dict[str, Any]) -> None:
    await request.app[keys.DATABASE].run(_write, audit_actor(request), action, target, detail)
