"""What every room of the web shares: who is asking (a staff member's page session or an API
token), the API's prefix, and the one error body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from appliance.errors import ApplianceError

PREFIX = "/api/v1"


@dataclass(frozen=True)
class Principal:
    name: str
    role: str  # admin | desk
    sites: frozenset[int] | None = None  # the sites it works at; None: the installation


PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal", Principal)
# The settings of the one site a site's staff work at (pages show its name, zone, address);
# unset for the installation's staff, whose pages show the box's own site as always.
SCOPED_SITE: web.RequestKey[Any] = web.RequestKey("scoped_site", object)
STAFF: web.RequestKey[Principal] = web.RequestKey("staff", Principal)  # set by the page login


def error_body(err: ApplianceError) -> dict[str, Any]:
    return {"error": {"code": err.code, "message": err.message, "details": err.details}}


def audit_actor(request: web.Request) -> str:
    """Who acts, as the audit log and the ledger name them: the API token's name when the API
    was called with one, else the staff member logged in on the pages (`staff:{username}`)."""
    principal = request.get(PRINCIPAL) or request.get(STAFF)
    return principal.name if principal else "anonymous"
