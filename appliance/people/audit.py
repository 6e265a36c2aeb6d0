"""The audit log: every change a staff member or an API token makes, who, what, when."""

from __future__ import annotations

import json
from typing import Any

from appliance.db.models import AuditLog


def write(actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
    AuditLog.create(actor=actor, action=action, target=target[:120],
                    detail=json.dumps(detail, default=str))


def newest(limit: int) -> list[AuditLog]:
    return list(AuditLog.select().order_by(AuditLog.id.desc()).limit(limit))
