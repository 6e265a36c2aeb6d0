"""The installable driver app (PWA): the scanner page, and the service worker served from the
root so that its scope is the whole site (a worker under /static/ would only see /static/)."""

from __future__ import annotations

from aiohttp import web

from appliance.web.driver.common import page
from appliance.web.templating import TEMPLATES

routes = web.RouteTableDef()
WORKER = TEMPLATES.with_name("static") / "driver-sw.js"


@routes.get("/scan")
async def scan_page(request: web.Request) -> web.StreamResponse:
    return await page(request, "driver/scan.html", {})


@routes.get("/driver-sw.js")
async def service_worker(request: web.Request) -> web.StreamResponse:
    response = web.FileResponse(WORKER, headers={"Content-Type": "text/javascript",
                                                 "Cache-Control": "no-cache"})
    return response
