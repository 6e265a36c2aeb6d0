"""Mounts every web route on the application: API modules register themselves on import."""

from __future__ import annotations

from aiohttp import web

# Importing the API modules registers their routes (and so their OpenAPI entries).
from appliance.web import (  # noqa: F401  # noqa: F401
    api_cards,
    api_money,
    api_reports,
    api_sessions,
    api_stations,
    pages_desk,
    pages_driver,
    pages_drivers,
    pages_records,
    pages_reports,
    pages_site,
    pages_stations,
)
from appliance.web.api_base import PREFIX, ROUTES, guarded, ok
from appliance.web.openapi import document
from appliance.web.templating import TEMPLATES

STATIC = TEMPLATES.with_name("static")
PAGE_MODULES = (pages_site, pages_stations, pages_records, pages_drivers, pages_reports,
                pages_driver, pages_desk)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def openapi(request: web.Request) -> web.Response:
    return ok(document())


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get(PREFIX + "/openapi.json", openapi)
    for route in ROUTES:
        app.router.add_route(route.method, PREFIX + route.path, guarded(route))
    for module in PAGE_MODULES:
        app.router.add_routes(module.routes)
    app.router.add_static("/static", STATIC, append_version=False)
