"""Charging sessions as staff and the API read them, with the money columns they carry (payer,
fee, tariff snapshot); the priced breakdown is billing's (`billing.views`). Plain synchronous
read functions."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from peewee import JOIN

from appliance.charging import metering
from appliance.db.models import ChargingSession, Driver, MeterReading, Station
from appliance.errors import NotFound


def _currency(s: ChargingSession) -> str:
    return str(json.loads(s.tariff_snapshot).get("currency", "INR")) if s.tariff_snapshot \
        else "INR"


def _money_fields(s: ChargingSession) -> dict[str, Any]:
    cur = _currency(s)
    fee = {"amount": s.fee_minor, "currency": cur} if s.fee_minor is not None else None
    return {"mode": s.mode, "driver_id": s.driver_id, "fee": fee, "settled": s.settled,
            "stop_requested": s.stop_requested or None, "auth_reason": s.auth_reason or None}


def _driver_name(s: ChargingSession) -> str | None:
    """The payer's name when the query joined it (no extra query per row)."""
    driver = getattr(s, "driver_row", None)
    return str(driver.name) if driver is not None and driver.name is not None else None


def _select() -> Any:
    return (ChargingSession.select(ChargingSession, Station.cpid, Driver.name).join(Station)
            .switch(ChargingSession)
            .join(Driver, JOIN.LEFT_OUTER, attr="driver_row"))


def session_dict(s: ChargingSession, cpid: str) -> dict[str, Any]:
    return {"driver_name": _driver_name(s),
        "id": s.id, "transaction_id": s.transaction_id, "station_id": cpid,
        "connector_id": s.connector_id, "evse_connector_id": s.plug, "id_tag": s.id_tag,
        "state": s.state,
        "start_status": s.start_status, "started_at": s.started_at, "stopped_at": s.stopped_at,
        "charger_start_time": s.charger_start_time, "charger_stop_time": s.charger_stop_time,
        "meter_start_wh": s.meter_start, "meter_stop_wh": s.meter_stop,
        "energy_wh": s.energy_wh, "power_w": s.power_w, "stop_reason": s.stop_reason or None,
        "stop_id_tag": s.stop_id_tag or None,
        "duration_s": int((s.stopped_at - s.started_at).total_seconds()) if s.stopped_at else None,
        "flags": [f for f in s.flags.split(",") if f],
        **_money_fields(s),
    }


def list_sessions(after: int | None, limit: int, station: str | None, id_tag: str | None,
                  start: datetime | None, end: datetime | None, state: str | None,
                  driver_id: int | None = None, sites: frozenset[int] | None = None
                  ) -> list[tuple[int, dict[str, Any]]]:
    query = _select()
    if sites is not None:
        query = query.where(Station.site_id.in_(sorted(sites)))
    if driver_id is not None:
        query = query.where(ChargingSession.driver == driver_id)
    if station:
        query = query.where(Station.key == station.upper())
    if id_tag:
        query = query.where(ChargingSession.id_tag_key == id_tag.upper())
    if start:
        query = query.where(ChargingSession.started_at >= start)
    if end:
        query = query.where(ChargingSession.started_at < end)
    if state:
        query = query.where(ChargingSession.state == state)
    if after is not None:
        query = query.where(ChargingSession.id < after)
    rows = query.order_by(ChargingSession.id.desc()).limit(limit)
    return [(s.id, session_dict(s, s.station.cpid)) for s in rows]


def get_session(session_id: int) -> dict[str, Any]:
    s = _select().where(ChargingSession.id == session_id).first()
    if s is None:
        raise NotFound(f"no session {session_id}")
    out = session_dict(s, s.station.cpid)
    out["tariff_snapshot"] = json.loads(s.tariff_snapshot) if s.tariff_snapshot else None
    out["samples"] = [
        {"timestamp": r.timestamp, "measurand": m.measurand, "phase": m.phase or None,
         "location": m.location or None, "context": m.context, "unit": m.unit,
         "value": m.value, "raw_value": m.raw_value, "signed": m.signed}
        for r in MeterReading.select().where(MeterReading.session == s.id)
        .order_by(MeterReading.timestamp, MeterReading.id)
        for m in (metering.parse_sampled_value(r.timestamp, sv) for sv in json.loads(r.sampled))
    ]
    return out
