"""Mounts every web route on the application: each page module and the API export their own
routes, listed here once."""

from __future__ import annotations

from aiohttp import web

from appliance import keys
from appliance.web import api, language
from appliance.web.admin import (
    audit,
    cards,
    certificates,
    dashboard,
    desk,
    drivers,
    login,
    payments,
    pins,
    power,
    reports,
    sessions,
    settings,
    sites,
    staff,
    stations,
    stickers,
    tariffs,
)
from appliance.web.driver import app as driver_app
from appliance.web.driver import forgot, me, pay, push, start, topup
from appliance.web.driver import login as driver_login
from appliance.web.templating import TEMPLATES

STATIC = TEMPLATES.with_name("static")
PAGE_MODULES = (login, dashboard, stations, certificates, drivers, pins, cards, sessions,
                tariffs, settings, sites, staff, audit, reports, desk, stickers, payments, power,
                driver_login, forgot, me, start, pay, topup, push, driver_app,
                language)


async def healthz(request: web.Request) -> web.Response:
    """Up, and (hosted) whether this process holds the leader lock and how many chargers' sockets
    it holds. A box is its own leader."""
    node = request.app.get(keys.NODE)
    if node is None:
        hub = request.app.get(keys.HUB)
        return web.json_response({"status": "ok", "leader": True,
                                  "chargers": hub.count if hub is not None else 0})
    return web.json_response({"status": "ok", "leader": node.is_leader,
                              "chargers": node.chargers, "process": node.process})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    api.setup(app)
    for module in PAGE_MODULES:
        app.router.add_routes(module.routes)
    app.router.add_static("/static", STATIC, append_version=False)
