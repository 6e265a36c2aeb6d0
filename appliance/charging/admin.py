"""Stations as staff manage them: listing, creating, approving, keys, retiring, recent frames.
Plain synchronous functions for `database.run` / `database.read`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from peewee import IntegrityError

from appliance.charging.sessions import MAX_POWER_W
from appliance.charging.stations import check_cpid, new_key_fields, read_plugs, station_key
from appliance.db.models import (
    ChargingSession,
    Connector,
    FrameLog,
    Station,
    StationNotice,
    utcnow,
)
from appliance.errors import N_, Conflict, InvalidInput, NotFound

EDITABLE = ("description", "approved", "auth_mode", "managed", "allow_no_subprotocol",
            "max_power_w", "ocpp_pin")
OCPP_PINS = ("", "1.6", "2.0.1")  # "": the newest version the charger offers


def station_dict(st: Station, connectors: list[Connector] | None = None) -> dict[str, Any]:
    conns = connectors if connectors is not None else list(
        Connector.select().where(Connector.station == st).order_by(Connector.connector_id))
    return {
        "id": st.cpid, "description": st.description, "approved": st.approved,
        "registration": st.registration, "auth_mode": st.auth_mode,
        "has_password": bool(st.key_hash), "managed": st.managed,
        "allow_no_subprotocol": st.allow_no_subprotocol, "vendor": st.vendor,
        "model": st.model, "serial": st.serial, "firmware": st.firmware,
        "meter_type": st.meter_type, "num_connectors": st.num_connectors, "online": st.online,
        "max_power_w": st.max_power_w, "ocpp_version": st.ocpp_version,
        "ocpp_pin": st.ocpp_pin,
        "last_seen_at": st.last_seen_at, "last_boot_at": st.last_boot_at,
        "firmware_status": st.firmware_status, "diagnostics_status": st.diagnostics_status,
        "created_at": st.created_at, "security_profile": st.security_profile,
        "connectors": [{"connector_id": c.connector_id, "status": c.status,
                        "error_code": c.error_code, "info": c.info, "vendor_id": c.vendor_id,
                        "vendor_error_code": c.vendor_error_code, "since": c.status_at,
                        # A 2.0.1 EVSE of several connectors: each one's own status.
                        "evse_connectors": [{"connector_id": k, "status": v.get("status"),
                                             "since": v.get("since")}
                                            for k, v in sorted(read_plugs(c.plugs).items())]}
                       for c in conns],
    }


def station_detail(cpid: str) -> dict[str, Any]:
    """One station with what it reported of itself (its device model, OCPP 2.0.1)."""
    st = get_station(cpid)
    return {**station_dict(st), "device_model": json.loads(st.device_model)
            if st.device_model else {}}


def get_station(cpid: str) -> Station:
    st = Station.get_or_none((Station.key == station_key(cpid)) & Station.retired_at.is_null())
    if st is None:
        raise NotFound(f"no station {cpid}", details={"id": cpid})
    return st


def list_stations(after: int | None, limit: int, approved: bool | None,
                  sites: frozenset[int] | None = None) -> list[dict[str, Any]]:
    """Live stations (of some sites only, when `sites` names them)."""
    query = Station.select().where(Station.retired_at.is_null())
    if sites is not None:
        query = query.where(Station.site_id.in_(sorted(sites)))
    if approved is not None:
        query = query.where(Station.approved == approved)
    if after is not None:
        query = query.where(Station.id > after)
    rows = list(query.order_by(Station.id).limit(limit))
    conns: dict[int, list[Connector]] = {}
    for c in (Connector.select().where(Connector.station.in_([r.id for r in rows]))
              .order_by(Connector.connector_id)):
        conns.setdefault(c.station_id, []).append(c)
    return [dict(station_dict(r, conns.get(r.id, [])), _row=r.id) for r in rows]


def _validate_fields(fields: dict[str, Any]) -> None:
    if "ocpp_pin" in fields and fields["ocpp_pin"] not in OCPP_PINS:
        raise InvalidInput(N_("The OCPP version is 1.6, 2.0.1 or the newest the charger offers."),
                           details={"field": "ocpp_pin"})
    if "auth_mode" in fields and fields["auth_mode"] not in ("basic", "none"):
        raise InvalidInput("auth_mode is basic or none", details={"field": "auth_mode"})
    power = fields.get("max_power_w")
    if power is not None and not 0 < power <= MAX_POWER_W:
        raise InvalidInput(f"max_power_w is between 1 and {MAX_POWER_W} W",
                           details={"field": "max_power_w"})
    password = fields.get("password")
    if password is not None and not 8 <= len(password) <= 40:
        raise InvalidInput("password must have 8 to 40 characters", details={"field": "password"})


def create_station(cpid: str, fields: dict[str, Any]) -> dict[str, Any]:
    check_cpid(cpid)
    _validate_fields(fields)
    values = {k: fields[k] for k in EDITABLE if k in fields}
    values.setdefault("approved", True)
    if fields.get("password"):
        values.update(new_key_fields(fields["password"]))
    retired = Station.get_or_none((Station.key == station_key(cpid)) & Station.retired_at.is_null(
        False))
    if retired is not None:  # an id used before comes back with its history
        Station.update(cpid=cpid, retired_at=None, **values).where(
            Station.id == retired.id).execute()
        return station_dict(Station.get_by_id(retired.id))
    try:
        with Station._meta.database.atomic():
            st = Station.create(cpid=cpid, key=station_key(cpid), **values)
    except IntegrityError as err:
        raise Conflict(f"station {cpid} exists (ids compare without case)",
                       details={"id": cpid}) from err
    return station_dict(st)


def update_station(cpid: str, fields: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Returns (station, newly approved)."""
    _validate_fields(fields)
    st = get_station(cpid)
    was_approved = st.approved
    for name in EDITABLE:
        if name in fields:
            setattr(st, name, fields[name])
    if fields.get("password"):
        for name, value in new_key_fields(fields["password"]).items():
            setattr(st, name, value)
    if st.approved and not was_approved and needs_key(st):
        # Approved with no key, anyone could connect under its id and be honoured.
        raise Conflict("a station is approved only with a key: give it a password, let an "
                       "online charger take one, or set auth_mode \"none\" for a charger that "
                       "cannot send one", details={"id": st.cpid})
    st.save()
    return station_dict(st), st.approved and not was_approved


def needs_key(st: Station) -> bool:
    """Basic auth and no key yet (a pending station that connected unknown)."""
    return st.auth_mode == "basic" and not st.key_hash


def approval_needs_key(cpid: str) -> bool:
    return needs_key(get_station(cpid))


def retire_station(cpid: str) -> None:
    st = get_station(cpid)
    has_history = ChargingSession.select().where(ChargingSession.station == st).exists()
    st.retired_at = utcnow()
    st.approved = has_history and st.approved
    st.save()


def station_notices(cpid: str, limit: int, kind: str = "") -> list[dict[str, Any]]:
    """What the station reported besides charging (firmware, logs, customer information,
    monitoring, reservations) and the answers to the commands whose answers are kept
    (`answer:<Action>`), newest first; `kind` a prefix of the kind ("answer:" for those)."""
    st = get_station(cpid)
    query = StationNotice.select().where(StationNotice.station == st)
    if kind:
        query = query.where(StationNotice.kind.startswith(kind))
    out = []
    for n in query.order_by(StationNotice.id.desc()).limit(limit):
        try:
            payload = json.loads(n.payload)
        except ValueError:
            payload = n.payload
        out.append({"id": n.id, "kind": n.kind, "payload": payload, "at": n.received_at})
    return out


def recent_frames(cpid: str, limit: int) -> list[dict[str, Any]]:
    """The station's newest `limit` frames, newest first."""
    st = get_station(cpid)
    out: list[dict[str, Any]] = []
    for (frames,) in (FrameLog.select(FrameLog.frames).where(FrameLog.station == st)
                      .order_by(FrameLog.id.desc()).tuples()):
        for at, direction, frame in reversed(json.loads(frames)):
            out.append({"direction": direction, "frame": frame,
                        "at": datetime.fromisoformat(at)})
            if len(out) >= limit:
                return out
    return out
