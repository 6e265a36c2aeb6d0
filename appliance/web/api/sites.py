"""JSON API for the sites of the installation (a box has one) and which staff work at which
sites: the installation's admins only (web.scope refuses a site's staff)."""

from __future__ import annotations

from aiohttp import web

from appliance import keys
from appliance.db import site as sites
from appliance.errors import InvalidInput
from appliance.people.scope import set_staff_sites
from appliance.web.api.base import ApiRoutes, json_body, listing, ok, take
from appliance.web.audit import record
from appliance.web.base import audit_actor

routes = ApiRoutes()
api = routes.api

SITE_BODY = {"type": "object", "properties": {
    name: {"type": "string"} for name in sites.OWN}, "required": ["site_name"]}


@api("GET", "/sites", "The sites of the installation", tag="sites")
async def list_sites(request: web.Request) -> web.Response:
    return listing(await request.app[keys.DATABASE].read(sites.list_sites), None)


@api("POST", "/sites", "Create a site (its name, legal name, tax id, time zone, nightly time, "
     "sticker address)", body=SITE_BODY, tag="sites")
async def create_site(request: web.Request) -> web.Response:
    body = await json_body(request)
    made = await request.app[keys.DATABASE].run(sites.create_site, request.app[keys.SITE], body)
    await record(request, "site.create", str(made["id"]), body)
    scheduler = request.app.get(keys.SCHEDULER)
    if scheduler is not None:  # the new site's night, at its own time
        await scheduler.reschedule()
    return ok(made, 201)


@api("PUT", "/staff/{username}/sites", "The sites a staff login works at (an empty list: the "
     "whole installation)", body={"type": "object", "properties": {
         "sites": {"type": "array", "items": {"type": "integer"}}}}, tag="sites")
async def put_staff_sites(request: web.Request) -> web.Response:
    body = await json_body(request)
    chosen = take(body, "sites", list, required=True)
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in chosen):
        raise InvalidInput("sites is a list of site ids", details={"field": "sites"})
    username = request.match_info["username"]
    await request.app[keys.DATABASE].run(set_staff_sites, username, chosen)
    await record(request, "staff.sites", username, {"sites": chosen})
    return ok({"username": username, "sites": sorted(set(chosen))})


@api("PATCH", "/sites/{id}", "Change what a site owns (name, legal name, tax id, time zone, "
     "nightly time, sticker address)", body={**SITE_BODY, "required": []}, tag="sites")
async def patch_site(request: web.Request) -> web.Response:
    body = await json_body(request)
    raw = request.match_info["id"]
    if not raw.isdigit():
        raise InvalidInput("a site id is a number", details={"field": "id"})
    site_id, database = int(raw), request.app[keys.DATABASE]
    await database.read(sites.get_site, site_id)
    changes = {k: v for k, v in body.items() if k in sites.OWN}
    defaults = sites.defaults_from(request.app[keys.SETTINGS])
    saved = await database.run(sites.save_site, defaults, changes, audit_actor(request),
                               site_id)
    if site_id == sites.DEFAULT_SITE:  # the box's own site: the running pages follow at once
        sites.refresh_site(request.app[keys.SITE], saved)
    await record(request, "site.update", raw, changes)
    scheduler = request.app.get(keys.SCHEDULER)
    if scheduler is not None:
        await scheduler.reschedule()
    return ok({"id": site_id, **{k: getattr(saved, k) for k in sites.OWN}})
