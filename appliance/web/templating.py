"""Jinja2 for the pages: autoescaping, every text through gettext in the reader's language
(`i18n`), and money, energy and times in their locale and the site's time zone (`formats`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web
from babel import numbers as babel_numbers

from appliance import keys
from appliance.formats import Formats, clock, duration, hours, kwh, major, money, when
from appliance.web import i18n
from appliance.web.base import SCOPED_SITE, STAFF
from appliance.web.i18n import actor_label

TEMPLATES = Path(__file__).with_name("templates")
LOCALES = i18n.LOCALE_DIR

__all__ = ["TEMPLATES", "LOCALES", "render", "formats_for", "actor_label", "money", "major",
           "kwh", "hours", "duration", "clock", "when"]


def page_site(request: web.Request) -> Any:
    """The site a staff page speaks of: the one site of a site's staff, else the box's own."""
    return request.get(SCOPED_SITE) or request.app[keys.SITE]


def formats_for(request: web.Request, currency: str | None = None) -> Formats:
    """This answer's formatting: the reader's language in the site's country and time zone."""
    site = page_site(request)
    locale = i18n.format_locale(i18n.request_language(request), site.locale)
    return Formats(locale, currency or site.currency, site.tz)


def render(request: web.Request, name: str, context: dict[str, Any], status: int = 200
           ) -> web.Response:
    from appliance.web.security import CSRF_COOKIE, csrf_token, set_cookie
    from appliance.web.session import current_staff

    site = page_site(request)
    language = i18n.request_language(request)
    catalogs = request.app[keys.CATALOGS]
    env = catalogs.environment(language)
    token = csrf_token(request)
    base = {
        "request": request, "staff": current_staff(request), "csrf_token": token,
        "site": site, "site_name": site.site_name, "currency": site.currency, "tz": site.tz,
        **(formats := formats_for(request)).context(),
        "currency_sign": babel_numbers.get_currency_symbol(site.currency, locale=formats.locale),
        "path": request.path,
        # A site's staff see no link to the installation's own pages (settings, staff, sites).
        "installation_staff": (principal := request.get(STAFF)) is None
        or principal.sites is None,
        "clock_behind": request.app[keys.CLOCK_BEHIND],
        "language": language, "html_lang": language.replace("_", "-"),
        "languages": [(code, i18n.NAMES.get(code, code)) for code in catalogs.offered],
    }
    html = env.get_template(name).render({**base, **context})
    response = web.Response(text=html, status=status, content_type="text/html")
    if request.cookies.get(CSRF_COOKIE) != token:
        set_cookie(response, request, CSRF_COOKIE, token, None)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "font-src 'self'")
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Language"] = language.replace("_", "-")
    return response
