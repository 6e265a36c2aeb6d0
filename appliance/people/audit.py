"""The audit log: every change a staff member or an API token makes, who, what, when."""

from __future__ import annotations

import json
from typing import Any

from appliance.db.models_people import AuditLog


def write(actor: str, action: str, target: str, detail: dict[str, Any],
          site_id: int | None = None) -> None:
    """One row; `site_id` the site acted on (None: the installation as a whole)."""
    AuditLog.create(actor=actor, action=action, target=target[:120],
                    detail=json.dumps(detail, default=str), site_id=site_id)


def newest(limit: int, sites: frozenset[int] | None = None) -> list[AuditLog]:
    """The newest rows (of some sites only, when `sites` names them)."""
    query = AuditLog.select()
    if sites is not None:
        query = query.where(AuditLog.site_id.in_(sorted(sites)))
    return list(query.order_by(AuditLog.id.desc()).limit(limit))
