"""A price before charging: the tariff that applies at a connector for a driver group, the unit
prices in force at an instant, and the cost of an example session, all from `pricing.price`,
the function that prices live and finished sessions. The QR page, the API's price preview, the
tariff form's worked example and the charger's display read prices through here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from babel.numbers import format_currency, format_decimal

from appliance import catalogs
from appliance.billing import bands, pricing, tariffs
from appliance.billing.settlement import billed as settlement_billed
from appliance.billing.settlement import cost as settlement_cost
from appliance.charging.sessions import find_session
from appliance.db.models import Connector, Driver, IdTag, Station
from appliance.db.models_driver import QrStart
from appliance.db.models_money import Tariff
from appliance.db.site import site_value
from appliance.errors import N_, InvalidInput, NotFound, Text

EXAMPLE_WH = 10_000
EXAMPLE_S = 3_600
MAX_EXAMPLE_S = 7 * 86_400


@dataclass(frozen=True)
class Ask:
    """A price question: where, for whom, from when, and an example session's size."""

    cpid: str
    connector_id: int | None
    at: datetime
    group: str = ""
    energy_wh: int = EXAMPLE_WH
    duration_s: int = EXAMPLE_S


def money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": int(amount), "currency": currency}


def cost_dict(cost: pricing.Cost) -> dict[str, Any]:
    cur = cost.currency
    out: dict[str, Any] = {k: money(getattr(cost, k), cur) for k in
                           ("energy", "time", "session", "idle", "tax_added", "fee", "tax")}
    out["bands"] = [{"name": line.name, "energy_wh": line.energy_wh, "duration_s": line.seconds,
                     "energy": money(line.energy, cur), "time": money(line.time, cur)}
                    for line in cost.lines]
    return out


def example(snapshot: dict[str, Any], at: datetime, energy_wh: int, duration_s: int
            ) -> pricing.Cost:
    """An example session from `at`, its energy drawn evenly."""
    if not 0 <= energy_wh <= 1_000_000 or not 0 <= duration_s <= MAX_EXAMPLE_S:
        raise InvalidInput("energy_wh 0-1000000 and duration_s up to 7 days",
                           details={"field": "energy_wh"})
    return pricing.price(snapshot, pricing.Facts(energy_wh, at, at + timedelta(
        seconds=duration_s)))


def prices_at(snapshot: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The unit prices in force at an instant (the band's, or the tariff's own)."""
    index = bands.band_at(snapshot, at) if snapshot.get("bands") else bands.BASE
    name, per_kwh, per_hour = pricing.band_prices(snapshot, index)
    return {"band": name or None, "energy_per_kwh": str(per_kwh),
            "time_per_hour": str(per_hour)}


def describe(snapshot: dict[str, Any], at: datetime, energy_wh: int = EXAMPLE_WH,
             duration_s: int = EXAMPLE_S) -> dict[str, Any]:
    """A tariff snapshot as every price surface shows it."""
    cur = str(snapshot.get("currency") or "INR")
    return {
        "tariff": {"id": snapshot.get("tariff_id"), "name": snapshot.get("name"),
                   "version": snapshot.get("version"), "group": snapshot.get("group") or None},
        "currency": cur, "now": prices_at(snapshot, at),
        "energy_per_kwh": str(snapshot.get("energy_per_kwh") or "0"),
        "time_per_hour": str(snapshot.get("time_per_hour") or "0"),
        "session_fee": str(snapshot.get("session_fee") or "0"),
        "idle_per_hour": str(snapshot.get("idle_per_hour") or "0"),
        "idle_grace_min": int(snapshot.get("idle_grace_min") or 0),
        "idle_cap": money(int(snapshot.get("idle_cap") or 0), cur),
        "tax_rate": str(snapshot.get("tax_rate") or "0"),
        "prices_include_tax": bool(snapshot.get("prices_include_tax", True)),
        "bands": list(snapshot.get("bands") or []),
        "example": {"energy_wh": energy_wh, "duration_s": duration_s, "from": at,
                    "cost": cost_dict(example(snapshot, at, energy_wh, duration_s))}}


def snapshot_for(station_id: int, connector_id: int | None, group: str, currency: str
                 ) -> dict[str, Any] | None:
    """What a session starting now would keep, or None where charging is free."""
    tariff, scope = tariffs.resolve_scope(station_id, connector_id, group)
    return tariffs.snapshot(tariff, currency, scope) if tariff is not None else None


def quote(ask: Ask, currency: str) -> dict[str, Any]:
    """The price preview of a connector (the API's `GET /stations/{id}/price`)."""
    station = Station.get_or_none((Station.key == ask.cpid.upper())
                                  & Station.retired_at.is_null())
    if station is None:
        raise NotFound(f"no station {ask.cpid}")
    snap = snapshot_for(station.id, ask.connector_id, ask.group, currency)
    out: dict[str, Any] = {"station_id": station.cpid, "connector_id": ask.connector_id,
                           "group": ask.group or None, "at": ask.at}
    if snap is None:
        out.update({"tariff": None, "free": True})
        return out
    out.update(describe(snap, ask.at, ask.energy_wh, ask.duration_s))
    out["free"] = False
    return out


def tariff_example(tariff_id: int, at: datetime, energy_wh: int, duration_s: int
                   ) -> dict[str, Any]:
    """The tariff form's worked example ("30 kWh tonight")."""
    t = Tariff.get_or_none(Tariff.id == tariff_id)
    if t is None:
        raise NotFound(f"no tariff {tariff_id}")
    return describe(tariffs.snapshot(t, t.currency), at, energy_wh, duration_s)


# --- the charger's own display (1.6 with the California pricing option; 2.0.1's messages) -------
@dataclass(frozen=True)
class Speech:
    """The language a charger's display speaks to one driver: the driver's own, the site's
    when they chose none (its code, gettext table and Babel locale)."""

    code: str
    table: Any
    locale: str
    own: bool = False  # the driver's own choice (not the site's)

    def say(self, template: str, **params: Any) -> str:
        return catalogs.translate(self.table, Text(template, **params))

    @property
    def tag(self) -> str:
        """The language as a display message names it (zh-Hans, hi, en)."""
        return self.code.replace("_", "-")[:8]


def speech(language: str) -> Speech:
    site_locale = str(site_value("locale", "en_IN") or "en_IN")
    code, table, locale = catalogs.reader(language or "", site_locale)
    own = bool(language) and catalogs.language_of(language, catalogs.shipped()) == code
    return Speech(code, table, str(locale), own)


def _unit(value: Any, currency: str, locale: str) -> str:
    return format_currency(Decimal(str(value or "0")), currency, locale=locale,
                           format="¤#,##0.00##", currency_digits=False)


def price_text(snapshot: dict[str, Any], at: datetime, language: str | Speech = "") -> str:
    """The tariff in one short line for a charger's display, in the driver's language (the
    site's when they chose none)."""
    talk = language if isinstance(language, Speech) else speech(language)
    cur, loc = str(snapshot.get("currency") or "INR"), talk.locale
    now = prices_at(snapshot, at)
    parts = [talk.say(N_("%(price)s/kWh"), price=_unit(now["energy_per_kwh"], cur, loc))
             + (f" ({now['band']})" if now["band"] else "")]
    for band in snapshot.get("bands") or []:
        parts.append(f"{band['name']} {band['start']}-{band['end']}: " + talk.say(
            N_("%(price)s/kWh"), price=_unit(band["energy_per_kwh"], cur, loc)))
    if Decimal(str(snapshot.get("time_per_hour") or "0")):
        parts.append(talk.say(N_("%(price)s/h"), price=_unit(snapshot["time_per_hour"], cur,
                                                              loc)))
    if Decimal(str(snapshot.get("session_fee") or "0")):
        parts.append(talk.say(N_("+%(price)s per session"),
                              price=_unit(snapshot["session_fee"], cur, loc)))
    if pricing.charges_idle(snapshot):
        parts.append(talk.say(N_("idle %(price)s/h after %(minutes)s min"),
                              price=_unit(snapshot["idle_per_hour"], cur, loc),
                              minutes=int(snapshot.get("idle_grace_min") or 0)))
    return " · ".join(parts)[:255]


def shown_amount(minor: int, currency: str, decimals: int | None) -> Decimal:
    """An amount in major units with the decimals a charger asks for (rounded half up when it
    asks for fewer than the currency has)."""
    value = Decimal(minor).scaleb(-pricing.minor_exponent(currency))
    places = pricing.minor_exponent(currency) if decimals is None else max(0, decimals)
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def display_price(id_tag: str, station_id: int, at: datetime) -> dict[str, Any] | None:
    """SetUserPrice (1.6) or the Authorize answer's personal message (2.0.1): the price the
    driver of a tag pays at this charger, in their language, or None when the tag is nobody's
    (the charger shows its default price then)."""
    tag = IdTag.get_or_none(IdTag.key == id_tag.upper())
    driver_id = tag.driver_id if tag is not None else None
    if driver_id is None:
        start = QrStart.get_or_none(QrStart.id_tag == id_tag.upper())
        driver_id = start.driver_id if start is not None else None
    if driver_id is None:
        return None
    driver = Driver.get_by_id(driver_id)
    talk = speech(str(driver.language or ""))
    snap = snapshot_for(station_id, None, str(driver.price_group or ""), "INR")
    free = snap is None or (tag is not None and tag.mode == "personal" and not snap.get("group"))
    return {"id_tag": id_tag, "language": talk.tag, "chosen": talk.own,
            "text": talk.say(N_("Free")) if free or snap is None else price_text(snap, at,
                                                                                  talk)}


def _register(session: Any) -> int:
    """The meter's register now (RunningCost's meterValue is the register, as the charger's
    own meter reads, not the session's energy)."""
    if session.last_register_wh is not None:
        return int(session.last_register_wh)
    return int(session.meter_start or 0) + int(session.energy_wh or 0)


def display_cost(station_id: int, transaction_id: int, at: datetime) -> dict[str, Any] | None:
    """RunningCost and FinalCost: a session's cost (the live cost, or the charge once settled:
    the receipt's, by the same function) and the prices in force, for a charger's display."""
    session = find_session(station_id, transaction_id)
    if session is None:
        return None
    row = Connector.get_or_none((Connector.station == station_id)
                                & (Connector.connector_id == session.connector_id))
    status = str(row.status) if row is not None else ""
    cost = settlement_cost(session, at)
    snapshot = tariffs.load_snapshot(session.tariff_snapshot, "INR")
    now = prices_at(snapshot, at)
    final = session.state != "active"
    fee = int(session.fee_minor) if final and session.fee_minor is not None else cost.fee
    if not settlement_billed(session, snapshot):
        fee = 0
    driver = Driver.get_or_none(Driver.id == session.driver_id) if session.driver_id else None
    talk = speech(str(driver.language or "") if driver is not None else "")
    cur = cost.currency
    return {"transaction_id": session.transaction_id, "currency": cur, "fee": fee,
            "energy_wh": session.energy_wh, "register_wh": _register(session), "final": final,
            "language": talk.tag,
            "idle": status in pricing.IDLE_STATES,
            "kwh_price": now["energy_per_kwh"], "hour_price": now["time_per_hour"],
            "idle_price": str(snapshot.get("idle_per_hour") or "0"),
            "idle_grace_min": int(snapshot.get("idle_grace_min") or 0),
            "text": talk.say(N_("%(kwh)s kWh · %(fee)s"), kwh=format_decimal(
                Decimal(session.energy_wh).scaleb(-3), "#,##0.00", locale=talk.locale),
                fee=format_currency(Decimal(fee).scaleb(-pricing.minor_exponent(cur)), cur,
                                    locale=talk.locale))}
