"""The one check of what a staff member or an API token may see: its scope (the whole
installation, or some sites) comes with who is asking (web.base.Principal); every guarded page
and API call passes `check_scope` before its handler runs. An object of another site answers
404 as if it did not exist; a page of the whole installation (sites, staff, settings) answers
403. Lists filter by `scope_of(request).sites` in their queries."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from appliance import keys
from appliance.db.site import DEFAULT_SITE, SiteSettings, defaults_from, load_site
from appliance.errors import N_, Forbidden, InvalidInput, NotFound
from appliance.people.scope import Scope, session_site, station_site, tariff_site
from appliance.web.base import PREFIX, PRINCIPAL, SCOPED_SITE, STAFF

# Pages and API paths (without the API prefix) of the installation as a whole.
INSTALLATION_ONLY = ("/settings", "/staff", "/sites", "/power", "/offline-report",
                     "/cards/unknown")
# The first part of a path that names an object, the route variable that holds it, and how to
# find the object's site.
OWNED: dict[str, tuple[str, Callable[[str], int | None]]] = {
    "/stations/{id}": ("id", station_site),
    "/stickers/{cpid}": ("cpid", station_site),
    "/sessions/{id}": ("id", lambda v: session_site(int(v)) if v.isdigit() else None),
    "/tariffs/{id}": ("id", lambda v: tariff_site(int(v)) if v.isdigit() else None),
    "/sites/{id}": ("id", lambda v: int(v) if v.isdigit() else None),
}


def scope_of(request: web.Request) -> Scope:
    """The scope of whoever asks (the API token, else the staff login)."""
    principal = request.get(PRINCIPAL) or request.get(STAFF)
    return Scope(principal.sites if principal is not None else frozenset())


def _route_path(request: web.Request) -> str:
    resource = request.match_info.route.resource
    path = resource.canonical if resource is not None else request.path
    return path.removeprefix(PREFIX) or "/"


def _owner(path: str) -> tuple[str, Callable[[str], int | None]] | None:
    for prefix, owner in OWNED.items():
        if path == prefix or path.startswith(prefix + "/") or path.startswith(prefix + "."):
            return owner
    return None


async def site_of_request(request: web.Request) -> int | None:
    """The site a request acts on, for its audit row: that of the object its URL names, else
    the asker's one site, else None (the installation)."""
    owner = _owner(_route_path(request))
    if owner is not None:
        site = await request.app[keys.DATABASE].read(owner[1], request.match_info.get(owner[0], ""))
        if site is not None:
            return site
    sites = scope_of(request).sites
    return next(iter(sites)) if sites is not None and len(sites) == 1 else None


async def check_scope(request: web.Request) -> None:
    """Refuse what lies outside the asker's sites: the installation's own pages, and objects
    (stations, stickers, sessions, tariffs) of other sites, which do not exist for it."""
    scope = scope_of(request)
    if scope.installation:
        return
    if scope.sites is not None and len(scope.sites) == 1:
        one = next(iter(scope.sites))
        defaults = defaults_from(request.app[keys.SETTINGS])
        request[SCOPED_SITE] = await request.app[keys.DATABASE].read(load_site, defaults, one)
    path = _route_path(request)
    if any(path == p or path.startswith(p + "/") for p in INSTALLATION_ONLY) or (
            path == "/stations" and request.method == "POST"):
        raise Forbidden(N_("This page is for the installation's admins."))
    owner = _owner(path)
    if owner is not None:
        site = await request.app[keys.DATABASE].read(owner[1], request.match_info.get(owner[0], ""))
        if not scope.allows(site):
            raise NotFound(N_("Not found."), details={"path": request.path})


async def charger_site(request: web.Request, cpid: str) -> SiteSettings:
    """The settings of a charger's site: its days split at that site's midnight."""
    site_id = await request.app[keys.DATABASE].read(station_site, cpid)
    if site_id is None or site_id == DEFAULT_SITE:
        return request.app[keys.SITE]
    defaults = defaults_from(request.app[keys.SETTINGS])
    return await request.app[keys.DATABASE].read(load_site, defaults, site_id)


def own_site(request: web.Request) -> int:
    """Where a new thing (a tariff) of the asker goes: its one site, else the box's own."""
    sites = scope_of(request).sites
    return min(sites) if sites else DEFAULT_SITE


def chosen_site(request: web.Request, default: int | None) -> int | None:
    """The site a report or a list was asked for (`?site=N`), within the asker's scope; without
    one, `default` when the asker may see it, else the asker's first site (a `default` of None:
    every site the asker may see, as None)."""
    scope = scope_of(request)
    raw = request.query.get("site", "")
    if not raw:
        if scope.sites is None or default is None or default in scope.sites:
            return default
        return min(scope.sites)
    if not raw.isdigit():
        raise InvalidInput(N_("A site is a number."), details={"field": "site"})
    if not scope.allows(int(raw)):
        raise NotFound(N_("Not found."), details={"site": raw})
    return int(raw)
