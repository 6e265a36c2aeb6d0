"""The sites of the installation (the installation's admins only; web.scope refuses a site's
staff): the list, a new site, and which staff logins work at which sites."""

from __future__ import annotations

from aiohttp import web

from appliance import keys
from appliance.db import site as sites
from appliance.errors import N_, ApplianceError, InvalidInput
from appliance.people.scope import set_staff_sites, sites_by_staff
from appliance.people.staff import list_staff
from appliance.web.audit import record
from appliance.web.session import require
from appliance.web.templating import render

routes = web.RouteTableDef()


def _page_data() -> dict[str, object]:
    return {"sites": sites.list_sites(), "users": list_staff(), "assigned": sites_by_staff()}


async def _render_sites(request: web.Request, message: str | None = None, ok: bool = True,
                        status: int = 200) -> web.StreamResponse:
    data = await request.app[keys.DATABASE].read(_page_data)
    return render(request, "sites.html", {**data, "message": message, "ok": ok,
                                          "own": sites.OWN}, status=status)


@routes.get("/sites")
@require("admin")
async def sites_page(request: web.Request) -> web.StreamResponse:
    return await _render_sites(request)


@routes.post("/sites")
@require("admin")
async def sites_post(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    database = request.app[keys.DATABASE]
    try:
        if form.get("action") == "staff":
            username = str(form.get("username", "")).strip()
            chosen = [str(v) for v in form.getall("site", [])]
            if not all(v.isdigit() for v in chosen):
                raise InvalidInput(N_("There is no such site."), details={"field": "site"})
            await database.run(set_staff_sites, username, [int(v) for v in chosen])
            await record(request, "staff.sites", username, {"sites": chosen})
            message = N_("Saved; that login's sessions ended, its next page shows its sites.")
        else:
            values = {k: str(form.get(k, "")) for k in sites.OWN if form.get(k)}
            made = await database.run(sites.create_site, request.app[keys.SITE], values)
            await record(request, "site.create", str(made["id"]), values)
            scheduler = request.app.get(keys.SCHEDULER)
            if scheduler is not None:  # its night, at its own time
                await scheduler.reschedule()
            message = N_("Site created.")
    except ApplianceError as err:
        return await _render_sites(request, err.message, ok=False, status=400)
    return await _render_sites(request, message)
