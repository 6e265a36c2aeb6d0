"""Site settings page (admin only): site name, legal name, tax id, currency, time zone, policies."""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import available_timezones

from aiohttp import web
from babel.core import get_global
from babel.numbers import get_currency_name, list_currencies

from appliance import events, keys
from appliance.db.site import FIELDS as SITE_FIELDS
from appliance.db.site import refresh_site, save_site
from appliance.errors import N_, ApplianceError, Text
from appliance.web.audit import record
from appliance.web.forms import parse_amount
from appliance.web.i18n import site_locale_choices
from appliance.web.session import require, staff_actor
from appliance.web.templating import formats_for, major, render

routes = web.RouteTableDef()


# Amounts a person types in the currency (like 500.00) and the database keeps in minor units.
MONEY_FIELDS = ("overdraft_default_minor",)


def _shown(site: Any, name: str) -> Any:
    value = getattr(site, name)
    return major(value, site.currency) if name in MONEY_FIELDS else value


@functools.lru_cache(maxsize=1)
def _fixed_choices() -> dict[str, list[tuple[str, str]]]:
    currencies = sorted(list_currencies())
    names = get_global("all_currencies")
    return {
        "currency": [(c, f"{c} ({get_currency_name(c, locale='en')})") for c in currencies
                     if c in names],
        "timezone": [(z, z) for z in sorted(available_timezones())],
        # Shown through tr() in the page: the reader's language.
        "unknown_station_policy": [
            ("pending", N_("pending: list it for approval")),
            ("reject", N_("reject: refuse the connection")),
            ("accept", N_("accept: let it in (commissioning only)"))],
    }


@functools.lru_cache(maxsize=1)
def _currency_codes() -> frozenset[str]:
    return frozenset(c for c, _ in _fixed_choices()["currency"])


def _choices(site: Any, offered: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Dropdowns, with the stored value kept even when it is not on the short lists. The site
    language lists the shipped languages (by their own names) in the site's country."""
    out = {"locale": site_locale_choices(site.locale, offered)}
    for name, options in _fixed_choices().items():
        value = getattr(site, name)
        out[name] = options if any(v == value for v, _ in options) else \
            [(value, value), *options]
    return out


async def _render_settings(request: web.Request, message: str | None = None, ok: bool = True,
                           status: int = 200) -> web.StreamResponse:
    site = request.app[keys.SITE]
    fields = [(name, f.metadata["label"], _shown(site, name), f.type)
              for name, f in SITE_FIELDS.items()]
    choices = _choices(site, request.app[keys.CATALOGS].offered)
    locale = formats_for(request).locale  # currency names in the reader's language
    choices["currency"] = [(c, f"{c} ({get_currency_name(c, locale=locale)})") if c in
                           _currency_codes() else (c, c) for c, _ in choices["currency"]]
    return render(request, "settings.html", {"fields": fields, "message": message, "ok": ok,
                                             "choices": choices}, status=status)


def _saved_message(site: Any) -> str:
    host = urlsplit(site.base_url).hostname or ""
    if host.endswith(".local"):
        return Text(N_("Settings saved. Warning: many phones cannot open .local names; the "
                       "box's fixed address (like http://192.168.1.20:8080) works on every "
                       "phone."))
    return N_("Settings saved.")


@routes.get("/settings")
@require("admin")
async def settings_page(request: web.Request) -> web.StreamResponse:
    return await _render_settings(request)


@routes.post("/settings")
@require("admin")
async def settings_post(request: web.Request) -> web.StreamResponse:
    from appliance.db.site import defaults_from

    form = {k: str(v) for k, v in (await request.post()).items() if k != "csrf_token"}
    changes: dict[str, Any] = {k: v for k, v in form.items() if k in SITE_FIELDS}
    for name, f in SITE_FIELDS.items():
        if f.type == "bool":
            changes[name] = form.get(name) == "on"
    try:
        for name in MONEY_FIELDS:
            if name in changes:
                changes[name] = parse_amount(changes[name], request.app[keys.SITE].currency,
                                             name, allow_zero=True)
        saved = await request.app[keys.DATABASE].run(
            save_site, defaults_from(request.app[keys.SETTINGS]), changes, staff_actor(request))
        refresh_site(request.app[keys.SITE], saved)
        request.app[keys.EVENTS].publish(events.SiteSettingsChanged())  # the other processes
    except ApplianceError as err:
        return await _render_settings(request, err.message, ok=False, status=400)
    await record(request, "site.settings", "site", changes)
    return await _render_settings(request, _saved_message(request.app[keys.SITE]))
