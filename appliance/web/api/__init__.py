"""The JSON API (`/api/v1`) and its OpenAPI document: Bearer tokens, one error body.
`setup(app)` mounts every API module's routes."""

from __future__ import annotations

from aiohttp import web

from appliance import keys
from appliance.web.api import (
    cards,
    charger_commands,
    money,
    power,
    reports,
    sessions,
    sites,
    stations,
)
from appliance.web.api.base import Route, guarded, ok
from appliance.web.api.openapi import document
from appliance.web.base import PREFIX

MODULES = (stations, charger_commands, cards, money, sessions, reports, power, sites)


def all_routes() -> list[Route]:
    return [route for module in MODULES for route in module.routes]


def setup(app: web.Application) -> None:
    routes = all_routes()
    spec = document(routes, app.get(keys.OCPP_ACTIONS) or {})

    async def openapi(request: web.Request) -> web.Response:
        return ok(spec)

    app.router.add_get(PREFIX + "/openapi.json", openapi)
    for route in routes:
        app.router.add_route(route.method, PREFIX + route.path, guarded(route))
