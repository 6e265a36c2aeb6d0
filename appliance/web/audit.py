"""Recording a page's or the API's action in the audit log, as the person or token acting."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from appliance import events, keys
from appliance.people import audit
from appliance.web.base import audit_actor
from appliance.web.scope import site_of_request

# Audited actions that can change who a charger may let charge while the box is away.
CARD_ACTIONS = ("card.", "driver.", "site.settings")


async def record(request: web.Request, action: str, target: str, detail: dict[str, Any]) -> None:
    site = await site_of_request(request)
    await request.app[keys.DATABASE].run(audit.write, audit_actor(request), action, target, detail,
                                         site)
    if action.startswith(CARD_ACTIONS):
        # Every change to cards passes here once it is stored: local lists follow at once.
        request.app[keys.EVENTS].publish(events.CardsChanged(action))
