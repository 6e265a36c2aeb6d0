"""QR stickers for the connectors (admin): an A4 sheet of every connector and a single sticker
per connector, each with the site name, the charger id, the connector number, the URL in text
(for phones without a scanner), when staff type it in, a Wi-Fi join code beside it (a phone
reaches the box only over the site's Wi-Fi) and, when the site setting asks for it, a short
price line: the connector's tariff for everyone, from `quotes.quote` as the QR page and the
API's preview have it. The codes are segno SVG, drawn on the server."""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import segno
import segno.helpers
from aiohttp import web
from markupsafe import Markup

from appliance import keys
from appliance.billing import quotes
from appliance.charging.stations import read_plugs
from appliance.db.models import Connector, Station, utcnow
from appliance.db.site import DEFAULT_SITE, SiteSettings, base_url_problem
from appliance.errors import N_, Conflict, NotFound, Text
from appliance.web.driver.common import site
from appliance.web.scope import chosen_site
from appliance.web.session import require
from appliance.web.templating import page_site, render

routes = web.RouteTableDef()


@dataclass(frozen=True)
class Sticker:
    cpid: str
    connector_id: int
    url: str
    svg: Markup
    plug: int | None = None  # the connector of a 2.0.1 EVSE of several
    price: dict[str, Any] | None = None  # the price line's quote, when the site prints it


def connector_url(base_url: str, cpid: str, connector_id: int, plug: int | None = None) -> str:
    """A socket's start page: a 2.0.1 EVSE's (the start goes to the EVSE, which has the
    driver's cable on whichever connector), with its connector named when it has several."""
    url = f"{base_url.rstrip('/')}/c/{cpid}/{connector_id}"
    return f"{url}?socket={plug}" if plug else url


Socket = tuple[str, int, int | None]  # (charger id, connector or EVSE, EVSE's connector)


def qr_svg(data: str, scale: int = 5) -> Markup:
    """An inline SVG of a QR code (medium error correction: a scuffed sticker still reads)."""
    code = segno.make(data, error="m", micro=False)
    # segno writes only its own markup; the data is not in the SVG as text.
    return Markup(code.svg_inline(scale=scale, border=2, dark="#000", light="#fff"))


def wifi_svg(ssid: str, password: str) -> Markup:
    code = segno.helpers.make_wifi(ssid=ssid, password=password or None,
                                   security="WPA" if password else "nopass")
    return Markup(code.svg_inline(scale=4, border=2))


def station_connectors(cpid: str | None, site_id: int | None = None) -> list[Socket]:
    """Every socket of every approved charger (of one site), or of one charger: (charger id,
    connector, None), and for a 2.0.1 EVSE of several connectors one (charger id, EVSE,
    connector) each."""
    query = Station.select().where(Station.retired_at.is_null() & Station.approved)
    if site_id is not None:
        query = query.where(Station.site_id == site_id)
    if cpid:
        query = query.where(Station.key == cpid.upper())
    out: list[Socket] = []
    for station in query.order_by(Station.cpid):
        rows = list(Connector.select(Connector.connector_id, Connector.plugs)
                    .where((Connector.station == station.id) & (Connector.connector_id > 0)))
        seen = [c.connector_id for c in rows]
        plugs = {c.connector_id: sorted(read_plugs(c.plugs)) for c in rows}
        last = max([station.num_connectors, *seen]) if seen or station.num_connectors else 1
        for n in range(1, last + 1):
            several = plugs.get(n, [])
            out.extend([(station.cpid, n, p) for p in several] if len(several) > 1
                       else [(station.cpid, n, None)])
    return out


def sticker_prices(pairs: list[tuple[str, int]], at: datetime, currency: str
                   ) -> list[dict[str, Any]]:
    """Each connector's price for everyone, by the one price function (the API's preview)."""
    return [quotes.quote(quotes.Ask(cpid, n, at), currency) for cpid, n in pairs]


async def _priced(request: web.Request, stickers: list[Sticker], here: SiteSettings
                  ) -> list[Sticker]:
    site_settings = here
    if not site_settings.sticker_price or not stickers:
        return stickers
    prices = await request.app[keys.DATABASE].read(
        sticker_prices, [(s.cpid, s.connector_id) for s in stickers], utcnow(),
        site_settings.currency)
    return [replace(s, price=p) for s, p in zip(stickers, prices, strict=True)]


def sticker_base(request: web.Request, here: SiteSettings | None = None
                 ) -> tuple[str, str | None]:
    """The address the stickers print (the site's, else the boot settings' one) and why a phone
    could not open it, if it could not."""
    base = (here or page_site(request)).base_url or request.app[keys.SETTINGS].public_url
    return base.rstrip("/"), base_url_problem(base)


def _stickers(request: web.Request, pairs: list[Socket],
              here: SiteSettings | None = None) -> list[Sticker]:
    base, problem = sticker_base(request, here)
    if problem:
        raise Conflict(N_("The stickers would print %(url)s: %(problem)s. Set the address "
                          "in the site settings first."),
                       params={"url": base, "problem": Text(problem)})
    return [Sticker(cpid, n, url, qr_svg(url), plug) for cpid, n, plug in pairs
            for url in [connector_url(base, cpid, n, plug)]]


async def _render_refusal(request: web.Request, here: SiteSettings | None = None
                          ) -> web.StreamResponse:
    base, problem = sticker_base(request, here)
    return render(request, "driver/stickers.html", {
        "stickers": [], "refusal": problem, "refused_url": base, "station": "",
        "wifi_ssid": "", "wifi": None, "single": True})


async def _sheet(request: web.Request, form: Any) -> web.StreamResponse:
    """One site's stickers (the asker's one site, else `?site=`, else the box's own)."""
    site_id = chosen_site(request, DEFAULT_SITE) or DEFAULT_SITE
    s = await site(request, site_id)
    if sticker_base(request, s)[1]:
        return await _render_refusal(request, s)
    cpid = str(form.get("station", "")).strip() or None
    pairs = await request.app[keys.DATABASE].read(station_connectors, cpid, site_id)
    ssid, password = str(form.get("wifi_ssid", "")).strip(), str(form.get("wifi_password", ""))
    return render(request, "driver/stickers.html", {
        "stickers": await _priced(request, _stickers(request, pairs, s), s),
        "site_name": s.site_name,
        "station": cpid or "",
        "wifi_ssid": ssid, "wifi": wifi_svg(ssid, password) if ssid else None})


@routes.get("/stickers")
@require("admin")
async def sticker_sheet(request: web.Request) -> web.StreamResponse:
    return await _sheet(request, request.query)


@routes.post("/stickers")
@require("admin")
async def sticker_sheet_wifi(request: web.Request) -> web.StreamResponse:
    """With a Wi-Fi join code: posted, so the Wi-Fi password never sits in a URL or a log."""
    return await _sheet(request, await request.post())


async def _one(request: web.Request) -> Sticker:
    cpid, n = request.match_info["cpid"], int(request.match_info["connector"])
    pairs = await request.app[keys.DATABASE].read(station_connectors, cpid)
    socket = request.query.get("socket", "")
    match = [p for p in pairs if p[1] == n
             and (not socket or not p[2] or str(p[2]) == socket)]
    if not match:
        raise NotFound("no such connector")
    return _stickers(request, match, await site(request))[0]  # (the charger's site)


@routes.get("/stickers/{cpid}/{connector:\\d+}")
@require("admin")
async def single_sticker(request: web.Request) -> web.StreamResponse:
    s = await site(request)  # the charger's site
    if sticker_base(request, s)[1]:
        return await _render_refusal(request, s)
    return render(request, "driver/stickers.html", {
        "stickers": await _priced(request, [await _one(request)], s), "site_name": s.site_name,
        "single": True,
        "station": request.match_info["cpid"], "wifi_ssid": "", "wifi": None})


@routes.get("/stickers/{cpid}/{connector:\\d+}.svg")
@require("admin")
async def sticker_svg(request: web.Request) -> web.StreamResponse:
    """The bare QR code, for a sign maker."""
    sticker = await _one(request)
    code = segno.make(sticker.url, error="m", micro=False)
    out = io.BytesIO()
    code.save(out, kind="svg", scale=10, border=2)
    return web.Response(body=out.getvalue(), content_type="image/svg+xml")
