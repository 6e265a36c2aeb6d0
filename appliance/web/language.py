"""The language switch every page carries: remembered in a cookie on this browser and, for a
logged-in person, on their staff login or driver account (so a receipt mailed later, or another
phone, is in their language too)."""

from __future__ import annotations

from aiohttp import web

from appliance import keys
from appliance.people import drivers
from appliance.people import staff as staff_logins
from appliance.web import i18n
from appliance.web.driver.common import current_driver
from appliance.web.security import set_cookie
from appliance.web.session import current_staff

routes = web.RouteTableDef()


async def remember_on_login(request: web.Request, driver_id: int) -> None:
    """A driver who chose a language on this phone before logging in keeps it on the account."""
    chosen = i18n.language_of(request.cookies.get(i18n.COOKIE),
                              request.app[keys.CATALOGS].offered)
    if chosen is not None:
        await request.app[keys.DATABASE].run(drivers.set_language, driver_id, chosen)


def _back(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") else "/"


@routes.post("/language")
async def choose_language(request: web.Request) -> web.StreamResponse:
    """Form fields `language` (a shipped language, or "" for the site's) and `next`."""
    form = await request.post()
    wanted = str(form.get("language", ""))
    code = i18n.language_of(wanted, request.app[keys.CATALOGS].tables) if wanted else ""
    if code is None:
        raise web.HTTPBadRequest(text="unknown language")
    database = request.app[keys.DATABASE]
    staff = current_staff(request)
    if staff is not None:
        await database.run(staff_logins.set_language, staff.user_id, code)
    driver = await current_driver(request)
    if driver is not None:
        await database.run(drivers.set_language, driver.driver_id, code)
    response = web.HTTPSeeOther(_back(str(form.get("next") or "/")))
    if code:
        set_cookie(response, request, i18n.COOKIE, code, i18n.COOKIE_MAX_AGE_S)
    else:
        response.del_cookie(i18n.COOKIE, path="/")
    raise response
