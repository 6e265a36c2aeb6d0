"""Tariffs as staff manage them, with their history (every saved state is a version), where and
to whom each applies (site, station, connector, each optionally for one driver group), and the
snapshot a session keeps of the tariff it started with. Sync functions for the seam."""

from __future__ import annotations

import functools
import json
from typing import Any

from appliance.billing import bands as tod
from appliance.billing.pricing import minor_exponent, parse_price
from appliance.db import fastsql
from appliance.db.models import Station, utcnow
from appliance.db.models_money import Tariff, TariffAssignment, TariffVersion
from appliance.db.site import DEFAULT_SITE, get_site, holiday_dates, site_pricing
from appliance.errors import N_, InvalidInput, NotFound

PRICE_FIELDS = ("energy_per_kwh", "time_per_hour", "session_fee", "idle_per_hour", "tax_rate")
INT_FIELDS = ("session_fee_min_wh", "idle_grace_min", "min_to_start", "idle_cap")
BAND_PRICES = ("energy_per_kwh", "time_per_hour")
MONEY_FIELDS = ("min_to_start", "idle_cap")


def money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": int(amount), "currency": currency}


def tariff_dict(t: Tariff, history: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"id": t.id, "name": t.name, "currency": t.currency,
                           "version": t.version}
    out.update({f: str(getattr(t, f)) for f in PRICE_FIELDS})
    out.update({"session_fee_min_wh": t.session_fee_min_wh, "idle_grace_min": t.idle_grace_min,
                "min_to_start": money(t.min_to_start, t.currency),
                "idle_cap": money(t.idle_cap, t.currency),
                "prices_include_tax": t.prices_include_tax, "bands": json.loads(t.bands or "[]"),
                "created_at": t.created_at, "updated_at": t.updated_at})
    out["assignments"] = [_assignment_dict(a) for a in
                          TariffAssignment.select().where(TariffAssignment.tariff == t.id)]
    if history:
        out["history"] = tariff_history(t.id)
    return out


def tariff_history(tariff_id: int) -> list[dict[str, Any]]:
    """Every saved state of a tariff, newest first."""
    return [{"version": v.version, "at": v.created_at, "actor": v.actor,
             "tariff": json.loads(v.snapshot)}
            for v in TariffVersion.select().where(TariffVersion.tariff == tariff_id)
            .order_by(TariffVersion.version.desc())]


def _assignment_dict(a: TariffAssignment) -> dict[str, Any]:
    cpid = Station.get_by_id(a.station_id).cpid if a.station_id else None
    return {"station_id": cpid, "connector_id": a.connector_id,
            "group": a.driver_group or None}


def _bands(value: Any) -> str:
    """Bands as JSON text, each checked (times, day type, prices)."""
    if isinstance(value, str):
        try:
            value = json.loads(value or "[]")
        except ValueError as err:
            raise InvalidInput("bands must be a list", details={"field": "bands"}) from err
    if not isinstance(value, list) or len(value) > 12:
        raise InvalidInput(N_("A tariff has at most 12 bands."), details={"field": "bands"})
    out = []
    for raw in value:
        if not isinstance(raw, dict):
            raise InvalidInput("each band is an object", details={"field": "bands"})
        band = tod.band_from(raw)
        out.append({"name": band.name, "days": band.days,
                    "start": band.start.strftime("%H:%M"), "end": band.end.strftime("%H:%M"),
                    **{f: str(parse_price(raw.get(f) or "0", f"bands.{f}"))
                       for f in BAND_PRICES}})
    return json.dumps(out)


def _apply(t: Tariff, fields: dict[str, Any]) -> None:
    if "name" in fields:
        name = fields["name"]
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(N_("A name is needed."), details={"field": "name"})
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
                raise InvalidInput(N_("%(field)s must be a whole number >= 0"),
                                   params={"field": name}, details={"field": name})
            setattr(t, name, value)
    if "prices_include_tax" in fields:
        t.prices_include_tax = bool(fields["prices_include_tax"])
    if "bands" in fields:
        t.bands = _bands(fields["bands"])
    t.updated_at = utcnow()


def _keep_version(t: Tariff, actor: str) -> None:
    """The saved state as a new version: a session names the version it started with, and the
    tariff page shows them all."""
    (TariffVersion.insert(tariff=t.id, version=t.version, actor=actor[:80],
                          snapshot=json.dumps(_own_fields(t)), created_at=utcnow())
     .on_conflict_ignore().execute())


def create_tariff(fields: dict[str, Any], currency: str, actor: str = "",
                  site_id: int = DEFAULT_SITE) -> dict[str, Any]:
    minor_exponent(currency)
    get_site(site_id)
    t = Tariff(currency=currency, name="", site_id=site_id)
    _apply(t, {"name": fields.get("name"), **fields})
    t.save()
    _keep_version(t, actor)
    return tariff_dict(t)


def get_tariff(tariff_id: int) -> Tariff:
    t = Tariff.get_or_none(Tariff.id == tariff_id)
    if t is None:
        raise NotFound(f"no tariff {tariff_id}")
    return t


def update_tariff(tariff_id: int, fields: dict[str, Any], actor: str = "") -> dict[str, Any]:
    """Running sessions keep their snapshot: a change applies to the next start. The state
    before stays in the history."""
    t = get_tariff(tariff_id)
    _keep_version(t, "")  # a tariff older than its history starts it with its state now
    before = _own_fields(t)
    _apply(t, fields)
    if _own_fields(t) != before:
        t.version += 1
        t.save()
        _keep_version(t, actor)
    return tariff_dict(t)


def list_tariffs(sites: frozenset[int] | None = None) -> list[dict[str, Any]]:
    """Every tariff, or those of some sites."""
    query = Tariff.select().order_by(Tariff.id)
    if sites is not None:
        query = query.where(Tariff.site_id.in_(sorted(sites)))
    return [tariff_dict(t) for t in query]


def site_place(site_id: int) -> str:
    """The assignment scope of a whole site: `site` for the box's own (as before sites)."""
    return "site" if site_id == DEFAULT_SITE else f"site:{site_id}"


def scope_of(station_id: int | None, connector_id: int | None, group: str = "",
             site_id: int = DEFAULT_SITE) -> str:
    if station_id is None:
        if connector_id is not None:
            raise InvalidInput(N_("A connector needs its charger."),
                               details={"field": "connector_id"})
        place = site_place(site_id)
    else:
        place = f"station:{station_id}" + (f":{connector_id}" if connector_id is not None
                                            else "")
    return f"group:{group}|{place}" if group else place


def _group(value: str | None) -> str:
    group = (value or "").strip().lower()[:40]
    if "|" in group:
        raise InvalidInput(N_("A group name cannot hold |."), details={"field": "group"})
    return group


def assign(tariff_id: int, cpid: str | None, connector_id: int | None,
           group: str | None = None) -> dict[str, Any]:
    """Make a tariff the site default, a station's, or one connector's, for everyone or for one
    driver group (replacing any there before)."""
    tariff = get_tariff(tariff_id)
    station_id = None
    if cpid:
        station = Station.get_or_none(Station.key == cpid.upper())
        if station is None:
            raise NotFound(N_("There is no charger %(cpid)s."), params={"cpid": cpid})
        if station.site_id != tariff.site_id:
            raise InvalidInput(N_("This tariff belongs to another site than the charger."),
                               details={"field": "station_id"})
        station_id = station.id
    name = _group(group)
    scope = scope_of(station_id, connector_id, name, tariff.site_id)
    (TariffAssignment.insert(tariff=tariff_id, station=station_id, connector_id=connector_id,
                             driver_group=name, scope=scope, created_at=utcnow())
     .on_conflict(conflict_target=[TariffAssignment.scope],
                  update={TariffAssignment.tariff: tariff_id}).execute())
    return tariff_dict(get_tariff(tariff_id))


def unassign(cpid: str | None, connector_id: int | None, group: str | None = None
             ) -> dict[str, Any]:
    """Take a tariff away from the site, a station or one connector (for everyone or for one
    driver group), and say what was there. Sessions already started keep the tariff version
    they started with (their snapshot); the next start finds the next most specific one."""
    station_id = None
    if cpid:
        station = Station.get_or_none(Station.key == cpid.upper())
        if station is None:
            raise NotFound(N_("There is no charger %(cpid)s."), params={"cpid": cpid})
        station_id = station.id
    scope = scope_of(station_id, connector_id, _group(group))
    row = TariffAssignment.get_or_none(TariffAssignment.scope == scope)
    if row is None:
        raise NotFound(N_("No tariff is applied there."), details={"scope": scope})
    removed = {**_assignment_dict(row), "tariff": tariff_dict(get_tariff(row.tariff_id))}
    TariffAssignment.delete().where(TariffAssignment.id == row.id).execute()
    return removed


def scopes_for(station_id: int, connector_id: int | None, group: str = "",
               site_id: int | None = None) -> list[str]:
    """Most specific first: a driver group's prices beat everyone's, and within each a
    connector's beat its station's, which beat the site's. `site_id`: the station's site when
    the caller has read the station already."""
    places = [scope_of(station_id, connector_id)] if connector_id else []
    site = fastsql.get_by_id(Station, station_id).site_id if site_id is None else site_id
    places += [scope_of(station_id, None), site_place(site)]
    group = _group(group)
    return ([f"group:{group}|{p}" for p in places] if group else []) + places


_TARIFF_FIELDS = Tariff._meta.sorted_fields


def _assigned(p: str, in_list: str) -> str:
    ta, t = TariffAssignment, Tariff
    columns = ", ".join(f"t.{fastsql.col(f)}" for f in _TARIFF_FIELDS)
    return (f"SELECT a.{fastsql.col(ta.scope)}, {columns} FROM {fastsql.table(ta)} a "
            f"JOIN {fastsql.table(t)} t ON t.{fastsql.col(t.id)} = a.{fastsql.col(ta.tariff)} "
            f"WHERE a.{fastsql.col(ta.scope)} IN ({in_list})")


def resolve_scope(station_id: int, connector_id: int | None, group: str = "",
                  site_id: int | None = None) -> tuple[Tariff | None, str]:
    """The tariff that applies, and the scope it was found at: the assignments of every scope
    that could apply, with their tariffs, in one statement (a StartTransaction asks twice)."""
    scopes = scopes_for(station_id, connector_id, group, site_id)
    rows = {row[0]: row[1:] for row in fastsql.query_in(
        "tariffs:assigned", 1 + len(_TARIFF_FIELDS), _assigned, scopes)}
    for scope in scopes:
        if scope in rows:
            return fastsql.model_from_row(Tariff, _TARIFF_FIELDS, rows[scope]), scope
    return None, ""


def resolve(station_id: int, connector_id: int | None, group: str = "",
            site_id: int | None = None) -> Tariff | None:
    """The most specific tariff (see `scopes_for`)."""
    return resolve_scope(station_id, connector_id, group, site_id)[0]


def _own_fields(t: Tariff) -> dict[str, Any]:
    out: dict[str, Any] = {"tariff_id": t.id, "version": t.version, "name": t.name,
                           "currency": t.currency}
    out.update({f: str(getattr(t, f)) for f in PRICE_FIELDS})
    out.update({f: int(getattr(t, f)) for f in INT_FIELDS})
    out["prices_include_tax"] = bool(t.prices_include_tax)
    out["bands"] = json.loads(t.bands or "[]")
    return out


def snapshot(t: Tariff | None, currency: str, scope: str = "") -> dict[str, Any]:
    """What a session keeps of its tariff, with the site values its prices depend on (time
    zone, holidays); a session with none is priced at zero (flagged). `group` names the driver
    group when the tariff was found for it."""
    if t is None:
        return {"tariff_id": None, "name": "", "currency": currency, "prices_include_tax": True,
                "min_to_start": 0}
    out = _own_fields(t)
    if out["bands"]:
        timezone, holidays = site_pricing(t.site_id)
        out["timezone"] = timezone
        out["holidays"] = holiday_dates(holidays)
    out["group"] = scope.partition("|")[0].removeprefix("group:") if "|" in scope else ""
    return out


def who_pays(site_currency: str, sites: frozenset[int] | None = None) -> list[dict[str, Any]]:
    """Every assignment (of some sites' tariffs, when `sites` names them) as a row of "who
    pays what where", most specific first."""
    rows = []
    for a in TariffAssignment.select():
        t = fastsql.get_by_id(Tariff, a.tariff_id)
        if sites is not None and t.site_id not in sites:
            continue
        cpid = Station.get_by_id(a.station_id).cpid if a.station_id else None
        specific = (2 if a.connector_id else 1 if a.station_id else 0) + (3 if a.driver_group
                                                                          else 0)
        rows.append({"group": a.driver_group, "station": cpid, "connector": a.connector_id,
                     "tariff": tariff_dict(t), "rank": specific})
    return sorted(rows, key=lambda r: (-r["rank"], r["group"], r["station"] or "",
                                       r["connector"] or 0))


def load_snapshot(text: str, currency: str) -> dict[str, Any]:
    return dict(_parsed(text)) if text else snapshot(None, currency)


@functools.lru_cache(maxsize=256)
def _parsed(text: str) -> tuple[tuple[str, Any], ...]:
    """A snapshot's items, parsed once: the watchdog prices every running session on each of
    its MeterValues, and a site has a handful of distinct snapshots."""
    return tuple(json.loads(text).items())
