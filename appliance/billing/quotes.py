"""A price before charging: the tariff that applies at a connector for a driver group, the unit
prices in force at an instant, and the cost of an example session, all from `pricing.price`,
the function that prices live and finished sessions. The QR page, the API's price preview, the
tariff form's worked example and the charger's display read prices through here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from appliance.billing import bands, pricing, tariffs
from appliance.db.models import Station, Tariff
from appliance.errors import InvalidInput, NotFound

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
        "example": {"energy_wh": energy_wh, "duration_s": duration_s,
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
