"""The one error middleware: our exceptions become the one JSON error body (or a plain page),
anything unexpected is logged once and answered 500 without internals."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from appliance.errors import ApplianceError
from appliance.web.base import PREFIX, error_body

log = logging.getLogger(__name__)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApplianceError as err:
        if err.http_status >= 500 and err.http_status not in (502, 504):
            log.exception("%s %s failed", request.method, request.path)
        if request.path.startswith(PREFIX):
            return web.json_response(error_body(err), status=err.http_status)
        return web.Response(status=err.http_status, text=err.message)
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
