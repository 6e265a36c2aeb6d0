"""Staff login for the pages: the session middleware (a signed cookie naming a session that
lives on the server: people.sessions), login, logout and logout everywhere, role guards, CSRF on
every form post. The JSON API does not take this cookie (web.api.base: Bearer tokens only)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec
from urllib.parse import quote, urlsplit

from aiohttp import web

from appliance import keys
from appliance.db.models_people import StaffUser
from appliance.errors import N_, Forbidden
from appliance.people import sessions
from appliance.people.scope import staff_sites
from appliance.people.staff import verify_password
from appliance.web.base import PREFIX, STAFF, Principal
from appliance.web.i18n import STAFF_LANGUAGE
from appliance.web.scope import check_scope
from appliance.web.security import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SESSION_MAX_AGE_S,
    StaffSession,
    csrf_ok,
    safe_next,
    set_cookie,
)

SESSION: web.RequestKey[StaffSession] = web.RequestKey("staff_session", StaffSession)
PageHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
P = ParamSpec("P")
# What `require` guards: a page handler, keeping its own signature for the type checker.
Guarded = Callable[Concatenate[web.Request, P], Awaitable[web.StreamResponse]]
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CHARGER_PREFIX = "/ocpp/"  # the chargers' sockets
PUBLIC_PREFIXES = ("/login", "/static/", "/healthz", CHARGER_PREFIX, "/c/", "/me", "/driver")


def current_staff(request: web.Request) -> StaffSession | None:
    return request.get(SESSION)


def staff_actor(request: web.Request) -> str:
    """Who is acting on a page, as the audit log and the ledger name them."""
    staff = current_staff(request)
    return f"staff:{staff.username}" if staff else "anonymous"


def _still_valid(token: str) -> tuple[StaffUser, frozenset[int] | None] | None:
    """The login of a live session, with the sites it works at (None: the installation)."""
    session = sessions.live_session(sessions.STAFF, token)
    if session is None:
        return None  # logged out, ended by a reset, a role change or disabling, or too old
    user = StaffUser.get_or_none(StaffUser.id == session.person_id)
    if user is None or user.disabled:
        return None
    return user, staff_sites(user.id)


def _cookie_token(request: web.Request) -> str | None:
    raw = request.cookies.get(SESSION_COOKIE)
    value = request.app[keys.SIGNER].loads(raw, SESSION_MAX_AGE_S) if raw else None
    token = value.get("sid") if value is not None else None
    return token if isinstance(token, str) else None


@web.middleware
def session_middleware(request: web.Request, handler: PageHandler
                       ) -> Awaitable[web.StreamResponse]:
    """A charger's socket goes straight to its handler: a plain function, not a coroutine,
    so no frame of this middleware waits under each connected charger for the socket's life
    (chargers have no staff session; their path is not CSRF-guarded)."""
    if request.path.startswith(CHARGER_PREFIX):
        return handler(request)
    return _with_session(request, handler)


async def _with_session(request: web.Request, handler: PageHandler) -> web.StreamResponse:
    token = _cookie_token(request)
    if token is not None:
        found = await request.app[keys.DATABASE].read(_still_valid, token)
        if found is not None:
            user, sites = found
            request[SESSION] = StaffSession(user.id, user.username, user.role, token)
            request[STAFF] = Principal(f"staff:{user.username}", user.role, sites)
            request[STAFF_LANGUAGE] = user.language
    # Webhooks are signed by the payment provider instead.
    unguarded = (PREFIX, "/pay/hooks/")
    if request.method not in SAFE_METHODS and not request.path.startswith(unguarded):
        # Every form post carries the CSRF token of this browser (double submit).
        form = await request.post() if request.content_type in (
            "application/x-www-form-urlencoded", "multipart/form-data") else {}
        submitted = form.get(CSRF_FIELD) or request.headers.get("X-CSRF-Token")
        if not csrf_ok(request, submitted if isinstance(submitted, str) else None):
            raise Forbidden(N_("This form has gone stale (or was not sent by this site's pages)."),
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


def require(role: str = "desk") -> Callable[[Guarded[P]], Guarded[P]]:
    """Guard a page: staff of at least `role` (admin > desk); others go to the login page."""

    def wrap(handler: Guarded[P]) -> Guarded[P]:
        @functools.wraps(handler)
        async def guarded(request: web.Request, /, *args: P.args, **kwargs: P.kwargs
                          ) -> web.StreamResponse:
            staff = current_staff(request)
            if staff is None:
                raise web.HTTPSeeOther(f"/login?next={quote(_return_to(request), safe='/')}")
            if role == "admin" and staff.role != "admin":
                raise Forbidden(N_("This page is for admins."))
            await check_scope(request)
            return await handler(request, *args, **kwargs)

        return guarded

    return wrap


def _check_login(username: str, password: str) -> StaffUser | None:
    user = StaffUser.get_or_none((StaffUser.username == username) & ~StaffUser.disabled)
    if user is None:
        verify_password("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$" + "A" * 43, password)
        return None  # the same work either way: no user-name oracle by timing
    return user if verify_password(user.password_hash, password) else None


def _throttle_keys(request: web.Request, username: str) -> dict[str, int]:
    # Per user name *and* address: a stranger's guesses never lock the right person out from
    # their own desk. Per address alone, more loosely: one machine trying many names.
    return {f"user:{username.lower()}@{request.remote}": 5, f"addr:{request.remote}": 20}


async def login(request: web.Request, form: dict[str, Any]
                ) -> tuple[web.HTTPSeeOther | None, str | None]:
    """Check a login form. Returns (redirect response, None) or (None, error message)."""
    username = str(form.get("username", "")).strip()[:64]
    password = str(form.get("password", ""))
    throttle = request.app[keys.THROTTLE]
    limits = _throttle_keys(request, username)
    if not await throttle.admit(limits):
        return None, N_("Too many failed logins. Wait a few minutes and try again.")
    database = request.app[keys.DATABASE]
    user = await database.read(_check_login, username, password)
    if user is None:
        throttle.failed(*limits)
        return None, N_("Wrong user name or password.")
    throttle.succeeded(next(iter(limits)))  # the address's count stays
    opened = await database.run(sessions.open_session, sessions.STAFF, user.id,
                                request.remote or "")
    response = web.HTTPSeeOther(safe_next(str(form.get("next") or "/")))
    set_cookie(response, request, SESSION_COOKIE,
               request.app[keys.SIGNER].dumps({"sid": opened.token}), SESSION_MAX_AGE_S)
    return response, None


async def logout(request: web.Request, everywhere: bool = False) -> web.HTTPSeeOther:
    """End this browser's session (or every session of this person) on the server."""
    staff, database = current_staff(request), request.app[keys.DATABASE]
    if staff is not None and everywhere:
        await database.run(sessions.end_all, sessions.STAFF, staff.user_id, "everywhere")
    elif staff is not None:
        await database.run(sessions.end_session, sessions.STAFF, staff.token, "logout")
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response
