"""Tariffs as staff manage them, where each applies (site default, per station, per connector),
and the snapshot a session keeps of the tariff it started with. Sync functions for the seam."""

from __future__ import annotations

import functools
import json
from typing import Any

from appliance.billing.pricing import minor_exponent, parse_price
from appliance.db import fastsql
from appliance.db.models import Station, Tariff, TariffAssignment, utcnow
from appliance.errors import InvalidInput, NotFound

PRICE_FIELDS = ("energy_per_kwh", "time_per_hour", "session_fee", "idle_per_hour", "tax_rate")
INT_FIELDS = ("session_fee_min_wh", "idle_grace_min", "min_to_start")


def money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": int(amount), "currency": currency}


def tariff_dict(t: Tariff) -> dict[str, Any]:
    out: dict[str, Any] = {"id": t.id, "name": t.name, "currency": t.currency}
    out.update({f: str(getattr(t, f)) for f in PRICE_FIELDS})
    out.update({"session_fee_min_wh": t.session_fee_min_wh, "idle_grace_min": t.idle_grace_min,
                "min_to_start": money(t.min_to_start, t.currency),
                "prices_include_tax": t.prices_include_tax,
                "created_at": t.created_at, "updated_at": t.updated_at})
    out["assignments"] = [_assignment_dict(a) for a in
                          TariffAssignment.select().where(TariffAssignment.tariff == t.id)]
    return out


def _assignment_dict(a: TariffAssignment) -> dict[str, Any]:
    cpid = Station.get_by_id(a.station_id).cpid if a.station_id else None
    return {"station_id": cpid, "connector_id": a.connector_id}


def _apply(t: Tariff, fields: dict[str, Any]) -> None:
    if "name" in fields:
        name = fields["name"]
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput("name is required", details={"field": "name"})
        t.name = name.strip()[:80]
    for name in PRICE_FIELDS:
        if name in fields:
            setattr(t, name, str(parse_price(fields[name], name)))
    for name in INT_FIELDS:
        if name in fields:
            value = fields[name]
            if isinstance(value, dict):  # min_to_start may come as a money object
                value = value.get("amount")
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInput(f"{name} must be a whole number >= 0",
                                   details={"field": name})
            setattr(t, name, value)
    if "prices_include_tax" in fields:
        t.prices_include_tax = bool(fields["prices_include_tax"])
    t.updated_at = utcnow()


def create_tariff(fields: dict[str, Any], currency: str) -> dict[str, Any]:
    minor_exponent(currency)
    t = Tariff(currency=currency, name="")
    _apply(t, {"name": fields.get("name"), **fields})
    t.save()
    return tariff_dict(t)


def get_tariff(tariff_id: int) -> Tariff:
    t = Tariff.get_or_none(Tariff.id == tariff_id)
    if t is None:
        raise NotFound(f"no tariff {tariff_id}")
    return t


def update_tariff(tariff_id: int, fields: dict[str, Any]) -> dict[str, Any]:
    """Running sessions keep their snapshot: a change applies to the next start."""
    t = get_tariff(tariff_id)
    _apply(t, fields)
    t.save()
    return tariff_dict(t)


def list_tariffs() -> list[dict[str, Any]]:
    return [tariff_dict(t) for t in Tariff.select().order_by(Tariff.id)]


def scope_of(station_id: int | None, connector_id: int | None) -> str:
    if station_id is None:
        if connector_id is not None:
            raise InvalidInput("a connector needs its station", details={"field": "connector_id"})
        return "site"
    return f"station:{station_id}" + (f":{connector_id}" if connector_id is not None else "")


def assign(tariff_id: int, cpid: str | None, connector_id: int | None) -> dict[str, Any]:
    """Make a tariff the site default, a station's, or one connector's (replacing any)."""
    get_tariff(tariff_id)
    station_id = None
    if cpid:
        station = Station.get_or_none(Station.key == cpid.upper())
        if station is None:
            raise NotFound(f"no station {cpid}")
        station_id = station.id
    scope = scope_of(station_id, connector_id)
    (TariffAssignment.insert(tariff=tariff_id, station=station_id, connector_id=connector_id,
                             scope=scope, created_at=utcnow())
     .on_conflict(conflict_target=[TariffAssignment.scope],
                  update={TariffAssignment.tariff: tariff_id}).execute())
    return tariff_dict(get_tariff(tariff_id))


def resolve(station_id: int, connector_id: int | None) -> Tariff | None:
    """The most specific tariff: the connector's, else the station's, else the site default."""
    scopes = [scope_of(station_id, connector_id)] if connector_id else []
    scopes += [scope_of(station_id, None), "site"]
    rows = {a.scope: a
            for a in fastsql.fetch_in(TariffAssignment, TariffAssignment.scope, scopes)}
    for scope in scopes:
        if scope in rows:
            return fastsql.get_by_id(Tariff, rows[scope].tariff_id)
    return None


def snapshot(t: Tariff | None, currency: str) -> dict[str, Any]:
    """What a session keeps of its tariff; a session with none is priced at zero (flagged)."""
    if t is None:
        return {"tariff_id": None, "name": "", "currency": currency, "prices_include_tax": True,
                "min_to_start": 0}
    out: dict[str, Any] = {"tariff_id": t.id, "name": t.name, "currency": t.currency}
    out.update({f: str(getattr(t, f)) for f in PRICE_FIELDS})
    out.update({f: int(getattr(t, f)) for f in INT_FIELDS})
    out["prices_include_tax"] = bool(t.prices_include_tax)
    return out


def load_snapshot(text: str, currency: str) -> dict[str, Any]:
    return dict(_parsed(text)) if text else snapshot(None, currency)


@functools.lru_cache(maxsize=256)
def _parsed(text: str) -> tuple[tuple[str, Any], ...]:
    """A snapshot's items, parsed once: the watchdog prices every running session on each of
    its MeterValues, and a site has a handful of distinct snapshots."""
    return tuple(json.loads(text).items())
