"""Staff login for the pages: the session middleware, login and logout, role guards, CSRF on
every form post."""

from __future__ import annotations

import asyncio
import functools
import secrets
from collections.abc import Awaitable, Callable
from gettext import gettext
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web

from appliance import keys
from appliance.db.models import StaffUser
from appliance.errors import Forbidden
from appliance.people.staff import verify_password
from appliance.web.base import PREFIX, STAFF, Principal
from appliance.web.security import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SESSION_MAX_AGE_S,
    StaffSession,
    csrf_ok,
    set_cookie,
)

SESSION: web.RequestKey[StaffSession] = web.RequestKey("staff_session", StaffSession)
PageHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
PUBLIC_PREFIXES = ("/login", "/static/", "/healthz", "/ocpp/", "/c/", "/me", "/driver")


def current_staff(request: web.Request) -> StaffSession | None:
    return request.get(SESSION)


def staff_actor(request: web.Request) -> str:
    """Who is acting on a page, as the audit log and the ledger name them."""
    staff = current_staff(request)
    return f"staff:{staff.username}" if staff else "anonymous"


def _still_valid(user_id: int, nonce: str) -> StaffUser | None:
    user = StaffUser.get_or_none(StaffUser.id == user_id)
    return user if user is not None and not user.disabled else None


@web.middleware
async def session_middleware(request: web.Request, handler: PageHandler) -> web.StreamResponse:
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        value = request.app[keys.SIGNER].loads(raw, SESSION_MAX_AGE_S)
        if value is not None:
            user = await request.app[keys.DATABASE].read(_still_valid, value["uid"], value["n"])
            if user is not None:
                request[SESSION] = StaffSession(user.id, user.username, user.role, value["n"])
                request[STAFF] = Principal(f"staff:{user.username}", user.role)
    if request.method not in SAFE_METHODS and not request.path.startswith(("/ocpp/", PREFIX)):
        # Every form post carries the CSRF token of this browser (double submit).
        form = await request.post() if request.content_type in (
            "application/x-www-form-urlencoded", "multipart/form-data") else {}
        submitted = form.get(CSRF_FIELD) or request.headers.get("X-CSRF-Token")
        if not csrf_ok(request, submitted if isinstance(submitted, str) else None):
            raise Forbidden("This form has gone stale (or was not sent by this site's pages).",
                            details={"reason": "stale_form"})
    return await handler(request)


def _return_to(request: web.Request) -> str:
    """Where to come back after logging in again: this page for a GET; for a form sent after
    the login expired, the page it was sent from (a GET), never the form's own address."""
    if request.method in SAFE_METHODS:
        return request.path_qs
    parts = urlsplit(request.headers.get("Referer", ""))
    same = not parts.netloc or parts.netloc == request.host
    return (parts.path + (f"?{parts.query}" if parts.query else "")) \
        if same and parts.path.startswith("/") and not parts.path.startswith("//") else "/"


def require(role: str = "desk") -> Callable[[PageHandler], PageHandler]:
    """Guard a page: staff of at least `role` (admin > desk); others go to the login page."""

    def wrap(handler: PageHandler) -> PageHandler:
        @functools.wraps(handler)
        async def guarded(request: web.Request, *args: Any, **kwargs: Any
                          ) -> web.StreamResponse:
            staff = current_staff(request)
            if staff is None:
                raise web.HTTPSeeOther(f"/login?next={quote(_return_to(request), safe='/')}")
            if role == "admin" and staff.role != "admin":
                raise Forbidden(gettext("This page is for admins."))
            return await handler(request, *args, **kwargs)  # type: ignore[call-arg]

        return guarded

    return wrap


def _check_login(username: str, password: str) -> StaffUser | None:
    user = StaffUser.get_or_none((StaffUser.username == username) & ~StaffUser.disabled)
    if user is None:
        verify_password("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$" + "A" * 43, password)
        return None  # the same work either way: no user-name oracle by timing
    return user if verify_password(user.password_hash, password) else None


async def login(request: web.Request, form: dict[str, Any]
                ) -> tuple[web.HTTPSeeOther | None, str | None]:
    """Check a login form. Returns (redirect response, None) or (None, error message)."""
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    throttle = request.app[keys.THROTTLE]
    keys_ = (f"user:{username.lower()}", f"addr:{request.remote}")
    if throttle.blocked(*keys_):
        return None, "Too many failed logins. Wait a few minutes and try again."
    await asyncio.sleep(throttle.delay_s(*keys_))
    user = await request.app[keys.DATABASE].read(_check_login, username, password)
    if user is None:
        throttle.failed(*keys_)
        return None, "Wrong user name or password."
    throttle.succeeded(*keys_)
    token = request.app[keys.SIGNER].dumps({"uid": user.id, "n": secrets.token_urlsafe(12)})
    target = str(form.get("next") or "/")
    if not target.startswith("/") or target.startswith("//"):
        target = "/"
    response = web.HTTPSeeOther(target)
    set_cookie(response, request, SESSION_COOKIE, token, SESSION_MAX_AGE_S)
    return response, None


def logout_response() -> web.HTTPSeeOther:
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response
