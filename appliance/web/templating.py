"""Jinja2 for the pages: autoescaping, gettext from the first page on (English first; other
languages are a Babel catalog away), and money, energy and times in the site's locale."""

from __future__ import annotations

import functools
import gettext
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from babel import numbers as babel_numbers

from appliance import keys

TEMPLATES = Path(__file__).with_name("templates")
LOCALES = Path(__file__).with_name("locale")


def make_environment(locale: str = "en", localedir: Path = LOCALES) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    translations = gettext.translation("appliance", localedir=localedir, languages=[locale],
                                       fallback=True)
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    env.globals["who"] = functools.partial(actor_label, translations.gettext)
    return env


def money(amount: int | None, currency: str, locale: str = "en_IN") -> str:
    if amount is None:
        return "—"
    digits = babel_numbers.get_currency_precision(currency)
    major = Decimal(amount).scaleb(-digits)
    return babel_numbers.format_currency(major, currency, locale=locale)


def major(amount: int, currency: str) -> str:
    """Minor units as a plain major-unit number for form fields ("500.00")."""
    digits = babel_numbers.get_currency_precision(currency)
    return f"{Decimal(amount).scaleb(-digits):.{digits}f}"


def kwh(wh: int | float | None) -> str:
    if wh is None:
        return "—"
    return f"{Decimal(wh) / 1000:.2f}"


def duration(seconds: int | float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def local_time(moment: datetime | None, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz).strftime(fmt)


def hours(seconds: float) -> str:
    return str(Decimal(seconds / 3600).quantize(Decimal("0.01"), ROUND_HALF_UP))


def actor_label(_: Callable[[str], str], actor: str | None) -> str:
    """Who did something, in words a person reads (the stored form is `staff:{user}`,
    `token:{name}`, `driver:{id}` or `system`)."""
    actor = actor or ""
    kind, _sep, name = actor.partition(":")
    if kind == "staff" and name:
        return str(name)
    if kind == "token" and name:
        return _("API token %(name)s") % {"name": name}
    if kind == "driver" and name:
        return _("the driver (phone)")
    if actor in ("system", "qr-start", ""):
        return _("the box (automatic)")
    return _("not recorded") if actor == "anonymous" else actor


def render(request: web.Request, name: str, context: dict[str, Any], status: int = 200
           ) -> web.Response:
    from appliance.web.security import CSRF_COOKIE, csrf_token, set_cookie
    from appliance.web.session import current_staff

    site = request.app[keys.SITE]
    tz = site.tz
    env = request.app[keys.JINJA]
    token = csrf_token(request)
    base = {
        "request": request, "staff": current_staff(request), "csrf_token": token,
        "site": site, "site_name": site.site_name, "currency": site.currency, "tz": tz,
        "currency_sign": babel_numbers.get_currency_symbol(site.currency, locale=site.locale),
        "money": lambda a: money(a, site.currency, site.locale),
        "major": lambda a: major(a, site.currency),
        "kwh": kwh, "duration": duration, "hours": hours,
        "when": lambda m, fmt="%Y-%m-%d %H:%M": local_time(m, tz, fmt),
        "path": request.path,
        "clock_behind": request.app[keys.CLOCK_BEHIND],
    }
    html = env.get_template(name).render({**base, **context})
    response = web.Response(text=html, status=status, content_type="text/html")
    if request.cookies.get(CSRF_COOKIE) != token:
        set_cookie(response, request, CSRF_COOKIE, token, None)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'")
    response.headers["Referrer-Policy"] = "same-origin"
    return response
