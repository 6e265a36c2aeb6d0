"""What every JSON API module shares: the route registry that the OpenAPI document is built
from, Bearer-token authentication with roles, the one error body, bodies, pagination."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from appliance import keys
from appliance.db.models import utcnow
from appliance.errors import Forbidden, InvalidInput, Unauthorized
from appliance.people import tokens
from appliance.web.base import PRINCIPAL, Principal
from appliance.web.scope import check_scope

log = logging.getLogger(__name__)

MAX_LIMIT = 500
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
@dataclass
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    role: str
    body: dict[str, Any] | None = None
    params: list[dict[str, Any]] = field(default_factory=list)
    tag: str = ""


class ApiRoutes(list[Route]):
    """One API module's routes; the OpenAPI document and the router are both built from these."""

    def api(self, method: str, path: str, summary: str, *, role: str = "admin",
            body: dict[str, Any] | None = None, query: dict[str, str] | None = None,
            tag: str = "") -> Callable[[Handler], Handler]:
        """Declare a route of this module."""

        def register(handler: Handler) -> Handler:
            params = [{"name": n, "in": "query", "required": False, "description": d,
                       "schema": {"type": "string"}} for n, d in (query or {}).items()]
            self.append(Route(method, path, handler, summary, role, body, params, tag))
            return handler

        return register


# --- auth -------------------------------------------------------------------------------------
async def authenticate(request: web.Request, role: str) -> Principal:
    """Bearer tokens only. A browser sends cookies to any site that asks it to, so a staff
    cookie here would let a page elsewhere book money in a logged-in admin's name (a text/plain
    POST needs no preflight); the pages have their own routes with CSRF tokens instead."""
    header = request.headers.get("Authorization", "")
    principal = None
    if header.lower().startswith("bearer "):
        # The quick lane: a desk top-up's one read must not wait behind the pages' reads.
        found = await request.app[keys.DATABASE].read_quick(tokens.holder, header[7:].strip())
        principal = Principal(f"token:{found[0]}", found[1],
                              None if found[2] is None else frozenset([found[2]])) \
            if found else None
    if principal is None:
        raise Unauthorized("a valid API token is needed (Authorization: Bearer ...)")
    if role == "admin" and principal.role != "admin":
        raise Forbidden("this needs an admin")
    return principal


def guarded(route: Route) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        request[PRINCIPAL] = await authenticate(request, route.role)
        await check_scope(request)
        return await route.handler(request)

    return handler


# --- bodies and answers -----------------------------------------------------------------------
def json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def rfc3339(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds") + "Z"


def ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status,
                             dumps=lambda d: json.dumps(d, default=json_default))


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError) as err:
        raise InvalidInput("the body is not valid JSON") from err
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    return body


def take(body: dict[str, Any], name: str, kind: type | tuple[type, ...], *,
         required: bool = False, default: Any = None) -> Any:
    """One field of a body, type-checked, with a clear error."""
    if name not in body or body[name] is None:
        if required:
            raise InvalidInput(f"{name} is required", details={"field": name})
        return default
    value = body[name]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise InvalidInput(f"{name} has the wrong type", details={"field": name})
    if not isinstance(value, kind):
        raise InvalidInput(f"{name} has the wrong type", details={"field": name})
    return value


def parse_when(value: Any, name: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as err:
        raise InvalidInput(f"{name} is not an RFC 3339 time", details={"field": name}) from err
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


@dataclass(frozen=True)
class Page:
    limit: int
    after: int | None

    def next_cursor(self, rows: list[Any], key: Callable[[Any], int]) -> str | None:
        if len(rows) < self.limit:
            return None
        return base64.urlsafe_b64encode(str(key(rows[-1])).encode()).decode()


def page(request: web.Request, default: int = 100) -> Page:
    try:
        limit = int(request.query.get("limit", default))
    except ValueError as err:
        raise InvalidInput("limit must be a whole number") from err
    if not 0 < limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    cursor = request.query.get("cursor")
    after = None
    if cursor:
        try:
            after = int(base64.urlsafe_b64decode(cursor.encode()).decode())
        except (ValueError, binascii.Error) as err:
            raise InvalidInput("cursor is not one we gave out") from err
    return Page(limit, after)


def listing(items: list[Any], next_cursor: str | None) -> web.Response:
    return ok({"items": items, "next_cursor": next_cursor})


def now() -> datetime:
    return utcnow()
