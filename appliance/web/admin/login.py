"""Staff login and logout pages."""

from __future__ import annotations

from aiohttp import web

from appliance.web.session import current_staff, login, logout_response
from appliance.web.templating import render

routes = web.RouteTableDef()


@routes.get("/login")
async def login_page(request: web.Request) -> web.StreamResponse:
    if current_staff(request) is not None:
        raise web.HTTPSeeOther("/")
    return render(request, "login.html", {"next": request.query.get("next", "/"), "error": None})


@routes.post("/login")
async def login_post(request: web.Request) -> web.StreamResponse:
    form = dict(await request.post())
    response, error = await login(request, form)
    if response is not None:
        raise response
    return render(request, "login.html", {"next": form.get("next", "/"), "error": error,
                                          "username": form.get("username", "")}, status=401)


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    raise logout_response()
