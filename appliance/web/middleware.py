"""The one error middleware: our exceptions become the one JSON error body (or a plain page),
anything unexpected is logged once and answered 500 without internals."""

from __future__ import annotations

import logging
from gettext import gettext
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from appliance.errors import ApplianceError
from appliance.web.base import PREFIX, error_body

log = logging.getLogger(__name__)


TITLES = {400: "Check what you typed", 403: "Not for your role", 404: "Not found",
          409: "Not possible right now", 422: "Not possible"}


def _same_site_back(request: web.Request) -> str:
    """The page a form was sent from, when it is one of ours (never another site)."""
    referer = request.headers.get("Referer", "")
    parts = urlsplit(referer)
    if parts.netloc and parts.netloc != request.host:
        return "/"
    path = parts.path or "/"
    return path + (f"?{parts.query}" if parts.query else "") if path.startswith("/") \
        and not path.startswith("//") else "/"


def error_page(request: web.Request, err: ApplianceError) -> web.Response:
    """An error as a page in the layout (plain text if the page itself cannot be drawn)."""
    from appliance.web.templating import render  # (templating reads the app's keys)

    status = err.http_status
    try:
        return render(request, "error.html", {
            "title": gettext(TITLES.get(status, "Something went wrong")),
            "message": err.message, "status": status,
            "stale": err.details.get("reason") == "stale_form",
            "back": _same_site_back(request) if request.method != "GET" else "/"},
            status=status)
    except Exception:  # noqa: BLE001 - the answer must go out whatever the page needed
        log.exception("error page for %s failed", request.path)
        return web.Response(status=status, text=err.message)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApplianceError as err:
        if err.http_status >= 500 and err.http_status not in (502, 504):
            log.exception("%s %s failed", request.method, request.path)
        if request.path.startswith(PREFIX):
            return web.json_response(error_body(err), status=err.http_status)
        return error_page(request, err)
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
