"""Staff login and logout pages: logout ends this browser's session on the server, logout
everywhere every session of the person (a lost laptop, a shared password)."""

from __future__ import annotations

from aiohttp import web

from appliance.web.security import safe_next
from appliance.web.session import current_staff, login, logout
from appliance.web.templating import render

routes = web.RouteTableDef()


@routes.get("/login")
async def login_page(request: web.Request) -> web.StreamResponse:
    if current_staff(request) is not None:
        raise web.HTTPSeeOther("/")
    return render(request, "login.html", {"next": safe_next(request.query.get("next", "/")),
                                          "error": None})


@routes.post("/login")
async def login_post(request: web.Request) -> web.StreamResponse:
    form = dict(await request.post())
    response, error = await login(request, form)
    if response is not None:
        raise response
    return render(request, "login.html", {"next": safe_next(str(form.get("next", "/"))),
                                          "error": error,
                                          "username": form.get("username", "")}, status=401)


@routes.post("/logout")
async def logout_post(request: web.Request) -> web.StreamResponse:
    raise await logout(request)


@routes.post("/logout/everywhere")
async def logout_everywhere(request: web.Request) -> web.StreamResponse:
    raise await logout(request, everywhere=True)
