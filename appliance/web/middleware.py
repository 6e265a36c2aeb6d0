"""The one error middleware: our exceptions become the one JSON error body (or a plain page),
anything unexpected is logged once and answered 500 without internals."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from appliance import keys
from appliance.catalogs import translate
from appliance.errors import N_, ApplianceError
from appliance.web.base import PREFIX, error_body
from appliance.web.i18n import SOURCE, from_accept_language, gettext_for

log = logging.getLogger(__name__)


TITLES = {400: N_("Check what you typed"), 403: N_("Not for your role"), 404: N_("Not found"),
          409: N_("Not possible right now"), 422: N_("Not possible")}


def translated(request: web.Request, message: str) -> str:
    """An error's message in the reader's language: a page's reader as the pages choose it; an
    API client by its Accept-Language, else English (programs read the code, people the
    message)."""
    if not request.path.startswith(PREFIX):
        return translate(gettext_for(request), message)
    catalogs = request.app[keys.CATALOGS]
    code = from_accept_language(request.headers.get("Accept-Language", ""), catalogs.offered)
    return translate(catalogs.translations(code or SOURCE), message)


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
            "title": gettext_for(request).gettext(TITLES.get(status,
                                                             N_("Something went wrong"))),
            "message": translated(request, err.message), "status": status,
            "stale": err.details.get("reason") == "stale_form",
            "back": _same_site_back(request) if request.method != "GET" else "/"},
            status=status)
    except Exception:  # noqa: BLE001 - the answer must go out whatever the page needed
        log.exception("error page for %s failed", request.path)
        return web.Response(status=status, text=translated(request, err.message))


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApplianceError as err:
        if err.http_status >= 500 and err.http_status not in (502, 504):
            log.exception("%s %s failed", request.method, request.path)
        if request.path.startswith(PREFIX):
            body = error_body(err)
            body["error"]["message"] = translated(request, err.message)  # the code stays English
            return web.json_response(body, status=err.http_status)
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
