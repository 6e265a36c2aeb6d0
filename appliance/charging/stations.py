"""Stations and connectors as the charging room sees them: registration at boot, status reports,
liveness. Plain synchronous functions, run through `database.run` / `database.read`."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peewee import Case, IntegrityError

from appliance.charging.metering import parse_time
from appliance.db import fastsql
from appliance.db.fastsql import col, table
from appliance.db.models import (
    ChargingSession,
    Connector,
    MeterReading,
    SecurityEvent,
    Station,
    StationNotice,
    StatusEvent,
)
from appliance.errors import Conflict, InvalidInput, Unavailable

log = logging.getLogger(__name__)

CPID_RE = re.compile(r"[A-Za-z0-9*\-_=+|@.]{1,48}")


def valid_cpid(cpid: str) -> bool:
    return CPID_RE.fullmatch(cpid) is not None


def station_key(cpid: str) -> str:
    return cpid.upper()


@dataclass(frozen=True)
class StationAuth:
    """What the endpoint needs to admit a connection, read before the upgrade."""

    id: int
    cpid: str
    approved: bool
    auth_mode: str
    key_salt: str
    key_hashes: tuple[str, ...]
    allow_no_subprotocol: bool
    registration: str
    managed: bool
    declared_connectors: int | None = None
    ocpp_version: str = ""  # the version of its last connection
    ocpp_pin: str = ""  # "" or the one version it may speak
    security_profile: int = 1
    profile_target: int = 0  # an upgrade under way


def hash_key(salt: str, secret: bytes) -> str:
    return hmac.new(bytes.fromhex(salt), secret, hashlib.sha256).hexdigest()


def key_candidates(password: str) -> list[bytes]:
    """A key may be presented as its text, as the raw bytes it is (Basic auth carries them as
    latin-1 characters), or, when it is hex, as the bytes it encodes."""
    out = [password.encode("utf-8")]
    try:
        out.append(password.encode("latin-1"))
    except UnicodeEncodeError:
        pass
    if len(password) % 2 == 0 and re.fullmatch(r"[0-9A-Fa-f]{32,40}", password):
        out.append(bytes.fromhex(password))
    return out


def which_key(auth: StationAuth, password: str) -> int | None:
    """0 when the password is the current key, 1 when it is the previous one, else None."""
    if not auth.key_salt:
        return None
    for candidate in key_candidates(password):
        digest = hash_key(auth.key_salt, candidate)
        for index, known in enumerate(auth.key_hashes):
            if known and hmac.compare_digest(digest, known):
                return index
    return None


def forget_previous_key(station_id: int) -> None:
    """The charger logged in with its new key: the old one stops working."""
    Station.update(key_hash_prev="").where(Station.id == station_id).execute()


def rotate_key(station_id: int, secret: bytes) -> None:
    """The charger accepted a new AuthorizationKey: it is the key now, the old one its fallback
    until the first login with the new one."""
    st = Station.get_by_id(station_id)
    if not st.key_salt:
        st.key_salt = secrets.token_hex(16)
        st.key_hash_prev = ""
    else:
        st.key_hash_prev = st.key_hash
    st.key_hash = hash_key(st.key_salt, secret)
    st.save()


def new_key_fields(password: str) -> dict[str, str]:
    salt = secrets.token_hex(16)
    return {"key_salt": salt, "key_hash": hash_key(salt, password.encode("utf-8"))}


# --- reads ------------------------------------------------------------------------------------
def load_auth(cpid: str) -> StationAuth | None:
    """What a connection's admission needs of its station (`load_auth_many` of one)."""
    return load_auth_many([cpid]).get(cpid)


def load_auth_many(cpids: list[str]) -> dict[str, StationAuth]:
    """What the admissions of these connections need of their stations, by the charge point
    id each asked with (ids that differ only by case find the same station): one statement,
    its SQL written once per IN-list size (a boot storm's chargers connect through it,
    gathered by `Database.read_gathered`)."""
    keys = {cpid: station_key(cpid) for cpid in cpids}
    by_key = {st.key: _auth(st) for st in fastsql.fetch_in(
        Station, Station.key, set(keys.values()), f"{col(Station.retired_at)} IS NULL")}
    return {cpid: by_key[key] for cpid, key in keys.items() if key in by_key}


def _auth(st: Station) -> StationAuth:
    return StationAuth(
        id=st.id, cpid=st.cpid, approved=st.approved, auth_mode=st.auth_mode,
        key_salt=st.key_salt, key_hashes=(st.key_hash, st.key_hash_prev),
        allow_no_subprotocol=st.allow_no_subprotocol,
        registration=st.registration, managed=st.managed,
        declared_connectors=st.declared_connectors, security_profile=st.security_profile,
        profile_target=st.profile_target, ocpp_version=st.ocpp_version, ocpp_pin=st.ocpp_pin,
    )


def record_device_model(station_id: int, variables: dict[str, dict[str, Any]],
                        replace: bool = False) -> None:
    """Merge what a charger reported of its components and variables into its stored device
    model (`replace`: the first part of a full report starts it afresh)."""
    st = Station.get_by_id(station_id)
    model: dict[str, Any] = {} if replace or not st.device_model \
        else json.loads(st.device_model)
    model.update(variables)
    Station.update(device_model=json.dumps(model, ensure_ascii=False, sort_keys=True)).where(
        Station.id == station_id).execute()


def device_model(station_id: int) -> dict[str, dict[str, Any]]:
    raw = Station.get_by_id(station_id).device_model
    return dict(json.loads(raw)) if raw else {}


# --- EVSEs of several connectors (OCPP 2.0.1) ---------------------------------------------------
# The status an EVSE shows from its connectors' own: one in use makes the EVSE in use (the
# others are then Unavailable by the spec), then reserved, then free on any, then broken.
PLUG_ORDER = ("Occupied", "Reserved", "Available", "Faulted", "Unavailable")
PLUGS_MAX = 16  # connectors per EVSE we keep


def evse_status(plugs: dict[int, str]) -> tuple[str, int]:
    """(the EVSE's status, the connector it comes from) from its connectors' statuses."""
    def rank(item: tuple[int, str]) -> tuple[int, int]:
        status = item[1]
        return (PLUG_ORDER.index(status) if status in PLUG_ORDER else len(PLUG_ORDER), item[0])

    connector, status = min(plugs.items(), key=rank)
    return status, connector


def read_plugs(raw: str | None) -> dict[int, dict[str, Any]]:
    """A Connector row's `plugs` column: connector id -> {"status", "since"}."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return {int(k): v for k, v in data.items() if str(k).isdigit() and isinstance(v, dict)}


def station_plugs(station_id: int) -> dict[int, dict[int, str]]:
    """The known connectors of each EVSE of several: EVSE id -> connector id -> status."""
    out: dict[int, dict[int, str]] = {}
    for row in Connector.select(Connector.connector_id, Connector.plugs).where(
            (Connector.station == station_id) & Connector.plugs.is_null(False)):
        plugs = read_plugs(row.plugs)
        if plugs:
            out[row.connector_id] = {k: str(v.get("status", "")) for k, v in plugs.items()}
    return out


def record_plug(station_id: int, evse_id: int, plugs: dict[int, str], connector_id: int,
                at: datetime) -> None:
    """An EVSE of several connectors: each one's status (`connector_id` changed just now at
    `at`); the EVSE's own status row is written by the status report that follows."""
    row = Connector.get_or_none((Connector.station == station_id)
                                & (Connector.connector_id == evse_id))
    stored = read_plugs(row.plugs) if row is not None else {}
    for plug, status in sorted(plugs.items())[:PLUGS_MAX]:
        before = stored.get(plug, {})
        same = before.get("status") == status
        since = before.get("since") if same else None
        stored[plug] = {"status": status, "since": since or at.isoformat()}
    text = json.dumps({str(k): v for k, v in sorted(stored.items())})
    if row is None:
        Connector.insert(station=station_id, connector_id=evse_id, plugs=text,
                         status_at=at).on_conflict_ignore().execute()
    Connector.update(plugs=text).where((Connector.station == station_id)
                                       & (Connector.connector_id == evse_id)).execute()


# --- connector ids ----------------------------------------------------------------------------
CONNECTOR_BOUND = 16  # sockets per charger while it has not said (NumberOfConnectors)
CONNECTOR_MAX = 128  # the most we believe a charger that says


def connector_limit(declared: int | None) -> int:
    """The highest connector id a charger may name: its NumberOfConnectors, else the bound."""
    if declared is not None and 0 < declared <= CONNECTOR_MAX:
        return declared
    return CONNECTOR_BOUND


def connector_allowed(connector_id: Any, limit: int, station_level: bool) -> bool:
    """0 (the charger itself, where the message allows it) or 1..limit."""
    if isinstance(connector_id, bool) or not isinstance(connector_id, int):
        return False
    return (station_level and connector_id == 0) or 0 < connector_id <= limit


def declared_connector_count(value: Any) -> int | None:
    """NumberOfConnectors as a GetConfiguration answer gives it (text), if believable."""
    try:
        count = int(str(value).strip())
    except ValueError:
        return None
    return count if 0 < count <= CONNECTOR_MAX else None


def declare_connectors(station_id: int, count: int) -> None:
    Station.update(declared_connectors=count).where(Station.id == station_id).execute()


# --- writes -----------------------------------------------------------------------------------
def admit_unknown(cpid: str, policy: str, pending_max: int) -> StationAuth:
    """Create the row of an unknown station that the policy lets in (pending or accept)."""
    approved = policy == "accept"
    pending = Station.select().where(~Station.approved & Station.retired_at.is_null())
    extra = pending.count() - pending_max + 1
    if not approved and extra > 0:
        # The approval list is bounded: the least recently seen offline pending ids make room.
        stale = (pending.where(~Station.online)
                 .order_by(Station.last_seen_at.asc(nulls="first")).limit(extra))
        for old in stale:
            if not ChargingSession.select().where(ChargingSession.station == old).exists():
                Connector.delete().where(Connector.station == old).execute()
                StatusEvent.delete().where(StatusEvent.station == old).execute()
                StationNotice.delete().where(StationNotice.station == old).execute()
                MeterReading.delete().where((MeterReading.station_id == old.id)
                                            & MeterReading.session.is_null()).execute()
                old.delete_instance(recursive=True)
    if not approved and pending.count() >= pending_max:
        # Every listed id is online (or has history): the list keeps its bound, the newcomer
        # waits until one goes.
        raise Unavailable("the list of stations waiting for approval is full")
    try:
        with Station._meta.database.atomic():
            st = Station.create(cpid=cpid, key=station_key(cpid), approved=approved)
    except IntegrityError as err:
        raise Conflict(f"station id {cpid} differs only by case from a known one") from err
    if approved:
        SecurityEvent.create(station=st, cpid=cpid, type="UnknownStationAccepted", origin="server",
                             tech_info="unknown_station_policy=accept")
    return load_auth(cpid)  # type: ignore[return-value]


def set_online(station_id: int, online: bool, at: datetime, version: str | None = None
               ) -> None:
    """Online or not since `at`; a charger that connects says the OCPP version it speaks now (a
    new firmware may speak the other one): written in the same statement, one writer trip per
    connect (a boot storm's first connections made two)."""
    values: dict[Any, Any] = {Station.online: online, Station.last_seen_at: at}
    if version is not None:
        values[Station.ocpp_version] = version
    Station.update(values).where(Station.id == station_id).execute()


def touch(station_id: int, at: datetime) -> None:
    Station.update(last_seen_at=at).where(Station.id == station_id).execute()


BOOT_FIELDS = (  # Station attribute -> BootNotification key
    ("vendor", "chargePointVendor"), ("model", "chargePointModel"),
    ("serial", "chargePointSerialNumber"), ("box_serial", "chargeBoxSerialNumber"),
    ("firmware", "firmwareVersion"), ("iccid", "iccid"), ("imsi", "imsi"),
    ("meter_type", "meterType"), ("meter_serial", "meterSerialNumber"),
)


def _boot_values(p: str, n: int, pg: bool) -> str:
    """The boots of a batch as a named VALUES table: (id, the identity fields, the time of
    the station's last boot in the batch, and of its first)."""
    names = ["id", *(attr for attr, _ in BOOT_FIELDS), "at", "first_at"]
    first = [f"CAST({p} AS integer)", *[p] * len(BOOT_FIELDS), f"CAST({p} AS timestamp)",
             f"CAST({p} AS timestamp)"] \
        if pg else [p] * len(names)  # PostgreSQL types a VALUES column by its contents
    rows = ["(" + ", ".join(first) + ")", *["(" + ", ".join([p] * len(names)) + ")"] * (n - 1)]
    return f"v({', '.join(names)}) AS (VALUES {', '.join(rows)})"


def _boot_station_sql(p: str, n: int, pg: bool) -> str:
    st = table(Station)
    sets = ", ".join(f"{col(getattr(Station, attr))} = v.{attr}" for attr, _ in BOOT_FIELDS)
    approved = f"{st}.{col(Station.approved)}"
    update = (f"UPDATE {st} SET {sets}, {col(Station.registration)} = CASE WHEN {approved} "
              f"THEN 'Accepted' ELSE 'Pending' END, {col(Station.last_boot_at)} = v.at, "
              f"{col(Station.last_seen_at)} = v.at, {col(Station.online)} = true FROM v "
              f"WHERE {st}.{col(Station.id)} = v.id RETURNING {st}.{col(Station.id)}, "
              f"{st}.{col(Station.registration)}, {approved}")
    if not pg:
        return f"WITH {_boot_values(p, n, pg)} {update}"
    # PostgreSQL: the sessions' update in the same statement (one round trip to the server)
    return f"WITH {_boot_values(p, n, pg)}, s AS ({_boot_sessions_sql(p, n, pg)}) {update}"


def _boot_sessions_sql(p: str, n: int, pg: bool) -> str:
    cs, flags = table(ChargingSession), col(ChargingSession.flags)
    update = (f"UPDATE {cs} SET {col(ChargingSession.state)} = 'suspect', "
              f"{flags} = CASE WHEN {flags} = '' THEN 'rebooted' ELSE {flags} || ',rebooted' END, "
              f"{col(ChargingSession.updated_at)} = v.first_at FROM v "
              f"WHERE {cs}.{col(ChargingSession.station)} = v.id AND "
              f"{cs}.{col(ChargingSession.state)} = 'active'")
    return update if pg else f"WITH {_boot_values(p, n, pg)} {update}"


def record_boot_many(boots: Sequence[tuple[int, dict[str, Any], datetime]]
                     ) -> list[tuple[str, bool]]:
    """BootNotifications of a batch of chargers (station id, payload, time): each station's
    identity stored, every transaction it had open made suspect (a reboot ends them without
    telling us), and per boot its (registration status, was approved). Set-based, in pieces of
    a power of two: one statement a piece on PostgreSQL (a round trip each: a boot storm's
    chargers one by one were most of the writer's time there), two on SQLite. A station that
    booted twice in the batch keeps the later identity, its sessions the first boot's time,
    as one after the other would."""
    latest: dict[int, tuple[Any, ...]] = {}
    first_at: dict[int, datetime] = {}
    for station_id, payload, at in boots:
        identity = [str(payload.get(key) or "")[:64] for _, key in BOOT_FIELDS]
        first_at.setdefault(station_id, at)
        latest[station_id] = (station_id, *identity, at, first_at[station_id])
    pg = not fastsql.is_sqlite()
    found: dict[int, tuple[str, bool]] = {}
    for piece in fastsql.pieces(list(latest.values())):
        n, values = len(piece), [v for row in piece for v in row]
        if not pg:
            fastsql.execute(fastsql.sql(f"boot:sessions:{n}",
                                        lambda p, n=n: _boot_sessions_sql(p, n, False)), values)
        rows = fastsql.execute(fastsql.sql(f"boot:station:{n}",
                                           lambda p, n=n: _boot_station_sql(p, n, pg)), values)
        found.update({int(sid): (str(reg), bool(ok)) for sid, reg, ok in rows.fetchall()})
    missing = [sid for sid, _, _ in boots if sid not in found]
    if missing:
        raise Station.DoesNotExist(f"Station {missing[0]} does not exist")
    return [found[sid] for sid, _, _ in boots]


def record_boot(station_id: int, payload: dict[str, Any], at: datetime) -> tuple[str, bool]:
    """Store identity from BootNotification. Returns (registration status, was approved):
    a batch of one (one implementation of the rule)."""
    return record_boot_many([(station_id, payload, at)])[0]


def flag_expr(column: Any, flag: str) -> Any:
    """SQL that appends `flag` to a comma-separated flags column."""
    return Case(None, [(column == "", flag)], column.concat("," + flag))


STATUS_COLUMNS = ("status", "error_code", "info", "vendor_id", "vendor_error_code")


def status_row(payload: dict[str, Any]) -> tuple[tuple[str, ...], datetime | None]:
    """The `STATUS_COLUMNS` values of a StatusNotification, and the charger's time."""
    row = (str(payload.get("status", "")), str(payload.get("errorCode", "")),
           str(payload.get("info") or ""), str(payload.get("vendorId") or ""),
           str(payload.get("vendorErrorCode") or ""))
    return row, parse_time(payload.get("timestamp"))


def record_notice(station_id: int, kind: str, payload: dict[str, Any], at: datetime) -> None:
    StationNotice.create(station=station_id, kind=kind, payload=json.dumps(payload), received_at=at)
    column = {"FirmwareStatusNotification": "firmware_status",
              "SignedFirmwareStatusNotification": "firmware_status",
              "DiagnosticsStatusNotification": "diagnostics_status",
              "LogStatusNotification": "log_status"}.get(kind)
    if column:
        Station.update({getattr(Station, column): str(payload.get("status", ""))[:32]}).where(
            Station.id == station_id).execute()


def record_security_event(station_id: int | None, cpid: str, payload: dict[str, Any],
                          at: datetime, origin: str = "charger") -> None:
    SecurityEvent.create(
        station=station_id, cpid=cpid, type=str(payload.get("type", ""))[:50],
        tech_info=str(payload.get("techInfo") or ""), origin=origin,
        charger_time=parse_time(payload.get("timestamp")), received_at=at,
    )


def check_cpid(cpid: str) -> None:
    if not valid_cpid(cpid):
        raise InvalidInput(
            "a charge point id is 1-48 characters of A-Z a-z 0-9 * - _ = + | @ .",
            details={"id": cpid},
        )


LIVENESS_CHUNK = 500  # stations per UPDATE of last-seen times


def write_last_seen(rows: list[tuple[int, datetime]]) -> None:
    """Every station's last-seen time, a few hundred stations per statement (one statement per
    station cost the writer a wait for the GIL each, thousands of times a flush)."""
    db = Station._meta.database
    table, seen, pk = (Station._meta.table_name, Station.last_seen_at.column_name,
                       Station.id.column_name)
    p = db.param
    value = "v.column2" if p == "?" else "CAST(v.column2 AS timestamp)"
    for i in range(0, len(rows), LIVENESS_CHUNK):
        chunk = rows[i:i + LIVENESS_CHUNK]
        values = ", ".join([f"({p}, {p})"] * len(chunk))
        db.execute_sql(f'UPDATE "{table}" SET "{seen}" = {value} FROM (VALUES {values}) AS v '
                       f'WHERE "{table}"."{pk}" = v.column1', [x for row in chunk for x in row])


def mark_all_offline() -> None:
    """At start and stop: no charger is connected to a process that is not running."""
    Station.update(online=False).where(Station.online).execute()
