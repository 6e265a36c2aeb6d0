"""Recording a page's or the API's action in the audit log, as the person or token acting."""

from __future__ import annotations

from collections.abc import Callable
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


async def row_for(request: web.Request, action: str, target: str, detail: dict[str, Any]
                  ) -> Callable[[], None]:
    """The audit row of an action, written by calling the result inside the action's own
    writer job: the change and its row commit together, in one trip through the writer (a
    second trip waited behind the chargers' batches again). Not for card actions (`record`
    tells the local lists)."""
    assert not action.startswith(CARD_ACTIONS), action
    site, actor = await site_of_request(request), audit_actor(request)

    def write() -> None:
        audit.write(actor, action, target, detail, site)

    return write
