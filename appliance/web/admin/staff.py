"""Staff logins (admin only): create, reset a password, disable."""

from __future__ import annotations

from aiohttp import web

from appliance import keys
from appliance.errors import ApplianceError
from appliance.people.staff import (
    create_staff,
    list_staff,
    reset_password,
    set_disabled,
    set_role,
)
from appliance.web.audit import record
from appliance.web.session import current_staff, require
from appliance.web.templating import render

routes = web.RouteTableDef()




async def _render_staff(request: web.Request, message: str | None = None, ok: bool = True,
                        status: int = 200) -> web.StreamResponse:
    users = await request.app[keys.DATABASE].read(list_staff)
    staff = current_staff(request)
    return render(request, "staff.html", {"users": users, "message": message, "ok": ok,
                                          "me": staff.username if staff else ""},
                  status=status)


@routes.get("/staff")
@require("admin")
async def staff_page(request: web.Request) -> web.StreamResponse:
    return await _render_staff(request)


@routes.post("/staff")
@require("admin")
async def staff_post(request: web.Request) -> web.StreamResponse:
    form = {k: str(v) for k, v in (await request.post()).items()}
    database, username = request.app[keys.DATABASE], form.get("username", "").strip()
    try:
        if form.get("action") == "create":
            await database.run(create_staff, username, form.get("role", "desk"),
                               form.get("password", ""))
            text = f"{username}: created."
        elif form.get("action") == "reset":
            password = await database.run(reset_password, username, None)
            text = f"{username}: new password {password} (shown once)."
        elif form.get("action") == "role":
            await database.run(set_role, username, form.get("role", ""))
            text = f"{username}: role {form.get('role')}; logged out everywhere."
        else:
            staff = current_staff(request)
            await database.run(set_disabled, username, form.get("action") == "disable",
                               staff.username if staff else "")
            text = f"{username}: {form.get('action')}d."
    except ApplianceError as err:
        return await _render_staff(request, err.message, ok=False, status=400)
    await record(request, f"staff.{form.get('action')}", username,
                 {"role": form.get("role", "")})
    return await _render_staff(request, text)
