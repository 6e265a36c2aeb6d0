"""The one error middleware: our exceptions become the one JSON error body (or a plain page),
anything unexpected is logged once and answered 500 without internals."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from appliance import keys
from appliance.catalogs import translate
from appliance.errors import ApplianceError
from appliance.web.base import PREFIX, error_body
from appliance.web.i18n import SOURCE, from_accept_language, gettext_for

log = logging.getLogger(__name__)


def translated(request: web.Request, message: str) -> str:
    """An error's message in the reader's language: a page's reader as the pages choose it; an
    API client by its Accept-Language, else English (programs read the code, people the
    message)."""
    if not request.path.startswith(PREFIX):
        return translate(gettext_for(request), message)
    catalogs = request.app[keys.CATALOGS]
    code = from_accept_language(request.headers.get("Accept-Language", ""), catalogs.offered)
    return translate(catalogs.translations(code or SOURCE), message)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApplianceError as err:
        if err.http_status >= 500 and err.http_status not in (502, 504):
            log.exception("%s %s failed", request.method, request.path)
        body = error_body(err)
        body["error"]["message"] = translated(request, err.message)  # the code stays English
        if request.path.startswith(PREFIX):
            return web.json_response(body, status=err.http_status)
        return web.Response(status=err.http_status, text=body["error"]["message"])
    except web.HTTPException as exc:
        if request.path.startswith(PREFIX) and exc.status >= 400:
            code = exc.reason.lower().replace(" ", "_")
            return web.json_response(
                {"error": {"code": code, "message": exc.reason, "details": {}}},
                status=exc.status)
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        if request.path.startswith(PREFIX):
            return web.json_response(
                {"error": {"code": "internal_error", "message": "internal error", "details": {}}},
                status=500)
        return web.Response(status=500, text="internal error")
