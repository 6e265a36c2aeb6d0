"""The driver's own pages: `/me` (balance, spending records, past sessions, how to top up) and
numbered receipts with the site's legal name and tax id."""

from __future__ import annotations

from aiohttp import web

from appliance import keys
from appliance.billing.payments import providers
from appliance.web.driver.common import current_driver, now, page, require_driver, site
from appliance.web.driver.views import issue_receipt, me_view, receipt_view

routes = web.RouteTableDef()

KIND_LABELS = {"topup": "Top-up", "topup_reversal": "Top-up reversed", "charge": "Charging",
               "refund": "Refund", "payout": "Payout", "adjustment": "Adjustment",
               "hold": "Set aside for a start", "release": "Given back"}


@routes.get("/me")
@require_driver
async def me_page(request: web.Request) -> web.StreamResponse:
    driver = await current_driver(request)
    assert driver is not None
    view = await request.app[keys.DATABASE].read(me_view, driver.driver_id, now())
    return await page(request, "driver/me.html", {
        **view, "kinds": KIND_LABELS, "providers": providers(),
        "online": bool(await request.app[keys.PAYMENTS].enabled()),
        "pin_changed": request.query.get("pin") == "changed"})


@routes.get("/me/receipts/{id:\\d+}")
@require_driver
async def receipt_page(request: web.Request) -> web.StreamResponse:
    driver = await current_driver(request)
    assert driver is not None
    session_id = int(request.match_info["id"])
    database = request.app[keys.DATABASE]
    await database.run(issue_receipt, session_id, driver.driver_id)
    view = await database.read(receipt_view, session_id, driver.driver_id)
    here = await site(request, view["station"].site_id)  # the legal name of where it charged
    return await page(request, "driver/receipt.html", {**view, "site": here,
                                                       "site_name": here.site_name})
