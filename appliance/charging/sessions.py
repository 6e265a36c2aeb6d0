"""Charging sessions from the charger's reports: StartTransaction, MeterValues, StopTransaction.

Reports are never refused while their business key is readable: odd data is stored and flagged,
a repeated message finds the row it made the first time, and energy is computed from meter state
(registers), never by adding increments, so a replayed message cannot count twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from peewee import Field, IntegrityError, fn

from appliance.charging import metering
from appliance.charging.stations import flag_expr
from appliance.db import fastsql
from appliance.db.fastsql import col
from appliance.db.models import (
    TX_COUNTER,
    ChargingSession,
    Counter,
    MeterReading,
    Station,
    StationNotice,
    StatusEvent,
    utcnow,
)

MAX_POWER_W = 400_000  # above any connector made today: what "plausible" means
TX_ID_LIMIT = 2**31 - 1


@dataclass(frozen=True)
class Clock:
    """What deciding the billing time needs to know about the station."""

    skew_limit_s: int
    last_boot_at: datetime | None


def billing_time(charger_time: datetime | None, received: datetime, clock: Clock
                 ) -> tuple[datetime, list[str]]:
    """Bill on the charger's time unless it is unreadable, in the future, or from before the
    station's last boot while far off our clock; then on our receipt time, flagged."""
    if charger_time is None:
        return received, ["bad_timestamp"]
    skew = timedelta(seconds=clock.skew_limit_s)
    if charger_time > received + skew:
        return received, ["clock_ahead"]
    if charger_time < received - skew and clock.last_boot_at and charger_time < clock.last_boot_at:
        return received, ["clock_behind"]
    return charger_time, []


def _bump(p: str) -> str:
    value = col(Counter.value)
    return (f"UPDATE {fastsql.table(Counter)} SET {value} = {value} + 1 "
            f"WHERE {col(Counter.name)} = {p} RETURNING {value}")


def next_transaction_id() -> int:
    # One cached statement on every StartTransaction (three built by peewee cost the writer
    # about a tenth of a start); the counter row is made once.
    row = fastsql.execute(fastsql.sql("sessions:bump", _bump), (TX_COUNTER,)).fetchone()
    if row is None:
        Counter.insert(name=TX_COUNTER, value=0).on_conflict_ignore().execute()
        row = fastsql.execute(fastsql.sql("sessions:bump", _bump), (TX_COUNTER,)).fetchone()
    value = row[0]
    if not 0 < value <= TX_ID_LIMIT:
        raise OverflowError("transaction ids are exhausted")
    return int(value)


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return int(value)
    except (OverflowError, ValueError):  # inf, nan
        return None


METER_LIMIT_WH = int(metering.VALUE_LIMIT)  # a register beyond it is implausible
NO_TRANSACTION = 0  # names no session: what a transactionId outside our range becomes


def meter_reading(value: Any) -> tuple[int | None, str]:
    """A meterStart or meterStop: (the reading or None, the oddity's flag or "")."""
    number = _int_or_none(value)
    if number is None:
        return None, "bad"
    if abs(number) > METER_LIMIT_WH:
        return None, "implausible"  # kept in the raw frame; never stored as a number or billed
    return number, "" if number >= 0 else "bad"


def transaction_id_of(payload: dict[str, Any]) -> int | None:
    """The transactionId of a report: None when absent, NO_TRANSACTION when it cannot be one of
    ours (never handed out, and too big for the column), so it finds no session."""
    raw = payload.get("transactionId")
    if raw is None:
        return None
    number = _int_or_none(raw)
    return number if number is not None and 0 < number <= TX_ID_LIMIT else NO_TRANSACTION


def small_int(value: Any) -> int | None:
    """An optional 32-bit id (reservationId): None when absent or out of range."""
    number = _int_or_none(value)
    return number if number is not None and -(2**31) <= number < 2**31 else None


def start_key(station_id: int, payload: dict[str, Any]) -> str:
    parts = (station_id, payload.get("connectorId"), str(payload.get("idTag", "")).upper(),
             payload.get("meterStart"), payload.get("timestamp"))
    return "|".join(str(p) for p in parts)[:200]


def record_start(station_id: int, payload: dict[str, Any], raw: str, received: datetime,
                 clock: Clock, status: str, flags: list[str], reference: str | None = None
                 ) -> tuple[ChargingSession, bool]:
    """Store a StartTransaction. Returns (session, created); a repeat returns the first row.
    `reference` is the charger's own transaction reference when it has one: then it, not the
    start's contents, is what makes a repeat find the first row."""
    charger_time = metering.parse_time(payload.get("timestamp"))
    started_at, time_flags = billing_time(charger_time, received, clock)
    meter_start, oddity = meter_reading(payload.get("meterStart"))
    all_flags = flags + time_flags + ([f"{oddity}_meter_start"] if oddity else [])
    id_tag = str(payload.get("idTag", ""))[:20]
    key = start_key(station_id, payload) if reference is None \
        else f"ref|{station_id}|{reference}"[:200]
    try:
        with ChargingSession._meta.database.atomic():
            session = ChargingSession.create(
                station=station_id, connector_id=int(payload["connectorId"]),
                transaction_id=next_transaction_id(), tx_ref=reference, start_key=key,
                id_tag=id_tag,
                id_tag_key=id_tag.upper(), start_status=status,
                reservation_id=small_int(payload.get("reservationId")),
                meter_start=meter_start, charger_start_time=charger_time,
                received_start_at=received, started_at=started_at,
                flags=",".join(dict.fromkeys(all_flags)), start_frame=raw, updated_at=received,
            )
    except IntegrityError:
        return ChargingSession.get(ChargingSession.start_key == key), False
    return session, True


READING_FIELDS = (MeterReading.station_id, MeterReading.connector_id, MeterReading.session,
                   MeterReading.timestamp, MeterReading.received_at, MeterReading.context,
                   MeterReading.energy_wh, MeterReading.power_w, MeterReading.sampled)


def reading_row(station_id: int, connector_id: int, session_id: int | None,
                 m: metering.Moment, received: datetime) -> tuple[Any, ...]:
    """A meter_reading row (in `READING_FIELDS` order) for one moment."""
    return (station_id, connector_id, session_id, m.timestamp or received, received, m.context,
            m.energy_wh, m.power_w, m.sampled_json)


def store_readings(station_id: int, connector_id: int, session_id: int | None,
                    moments: list[metering.Moment], received: datetime) -> None:
    fastsql.insert_rows(MeterReading, READING_FIELDS, [
        reading_row(station_id, connector_id, session_id, m, received) for m in moments])


def apply_registers(session: ChargingSession, samples: list[metering.Sample]) -> list[str]:
    """Move the session's register and power state forward; return new flags."""
    flags: list[str] = ["implausible_meter_value"] if any(s.implausible for s in samples) else []
    # A Transaction.Begin reading (often sent again in transactionData at the stop) is the
    # register at the start: it can only lower the first reading, never count as backwards.
    begin = [s for s in samples if s.context == "Transaction.Begin"]
    for _, wh in metering.readings_by_time(begin, metering.ENERGY_REGISTER):
        if session.first_register_wh is None or wh < session.first_register_wh:
            session.first_register_wh = int(round(wh))
    later = [s for s in samples if s.context != "Transaction.Begin"]
    for _, wh in metering.readings_by_time(later, metering.ENERGY_REGISTER):
        wh_int = int(round(wh))
        if session.first_register_wh is None:
            session.first_register_wh = wh_int
        if session.last_register_wh is not None and wh_int < session.last_register_wh:
            flags.append("meter_backwards")
            continue
        session.last_register_wh = wh_int
    powers = metering.readings_by_time(samples, metering.POWER_IMPORT)
    if powers:
        session.power_w = int(round(powers[-1][1]))
    if session.state == "active" and session.last_register_wh is not None:
        session.energy_wh = max(0, session.last_register_wh - live_base(session))
    return flags


def live_base(session: ChargingSession) -> int:
    """The register value a running session counts from: meterStart, unless it is missing, or
    zero while the first sample is a whole odometer (an offline start that lost its reading)."""
    first = session.first_register_wh
    if session.meter_start is None or session.meter_start < 0:
        return first or 0
    if session.meter_start == 0 and first is not None:
        elapsed = (utcnow() - session.started_at).total_seconds()
        if first > MAX_POWER_W * max(elapsed, 60.0) / 3600.0 + 1000:
            return first
    return int(session.meter_start)


def add_flags(session: ChargingSession, flags: list[str]) -> None:
    current = [f for f in session.flags.split(",") if f]
    session.flags = ",".join(dict.fromkeys(current + flags))


_BY_TX = (f"{col(ChargingSession.transaction_id)} = {{p}} "
          f"AND {col(ChargingSession.station)} = {{p}}")
ACTIVE_ON = (f"{col(ChargingSession.station)} = {{p}} AND {col(ChargingSession.connector_id)} "
              f"= {{p}} AND {col(ChargingSession.state)} = 'active' "
              f"ORDER BY {col(ChargingSession.id)} DESC LIMIT 1")
LIVE_COLUMNS: tuple[Field[Any], ...]
LIVE_COLUMNS = (ChargingSession.first_register_wh, ChargingSession.last_register_wh,
                 ChargingSession.power_w, ChargingSession.energy_wh, ChargingSession.flags,
                 ChargingSession.updated_at)


def find_session(station_id: int, transaction_id: int) -> ChargingSession | None:
    return fastsql.select_session(_BY_TX, (transaction_id, station_id))


_BY_REF = (f"{col(ChargingSession.station)} = {{p}} "
           f"AND {col(ChargingSession.tx_ref)} = {{p}}")


def find_by_reference(station_id: int, reference: str) -> ChargingSession | None:
    """The session of a charger's own transaction reference (keyed per station)."""
    return fastsql.select_session(_BY_REF, (station_id, reference))


def reference_of(station_id: int, transaction_id: int) -> str | None:
    """The charger's reference of one of our transaction ids: its own text when it gave one,
    else our number as text; None when the station has no such transaction."""
    session = find_session(station_id, transaction_id)
    if session is None:
        return None
    return session.tx_ref if session.tx_ref is not None else str(session.transaction_id)


def session_energy(meter_start: int | None, meter_stop: int | None, first_reg: int | None,
                   last_reg: int | None, duration_s: float, max_power_w: int
                   ) -> tuple[int, list[str]]:
    """Energy of a finished session in Wh, from the best evidence, with flags for staff:
    meterStop - meterStart when plausible; else the sampled registers."""
    plausible = max_power_w * max(duration_s, 60.0) / 3600.0 + 1000
    if meter_start is not None and meter_start < 0:
        meter_start = None  # a negative start reading is no base to bill energy from

    def fits(value: int | None) -> bool:
        return value is not None and 0 <= value <= plausible

    if meter_start is not None and meter_stop is not None and fits(meter_stop - meter_start):
        return meter_stop - meter_start, []
    # More than the charger can deliver in the time: not billed from the readings; flagged
    # (a start at 0 and a whole odometer at the stop is an offline start that lost its reading).
    odd = ["implausible_energy"] if meter_start and meter_stop is not None \
        and meter_stop - meter_start > plausible else []
    end = meter_stop if meter_stop is not None else last_reg
    candidates = []
    if meter_stop is None and meter_start is not None and end is not None:
        candidates.append(end - meter_start)  # no stop reading: up to the last register
    if first_reg is not None and end is not None:
        candidates.append(end - first_reg)
    if first_reg is not None and last_reg is not None:
        candidates.append(last_reg - first_reg)
    for value in candidates:
        if fits(value):
            return value, [*odd, "energy_from_samples"]
    return 0, [*odd, "energy_unknown"]


def record_stop(station_id: int, payload: dict[str, Any], raw: str, received: datetime,
                clock: Clock, max_power_w: int) -> tuple[ChargingSession | None, bool]:
    """Store a StopTransaction. Returns (session, first_time); an unknown transaction is kept as
    a notice and returns (None, True); a repeated stop changes nothing and returns (s, False)."""
    tx = transaction_id_of(payload)
    session = find_session(station_id, tx) if tx is not None else None
    if session is None:
        StationNotice.create(station=station_id, kind="stop_unknown_transaction", payload=raw,
                             received_at=received)
        return None, True
    if session.state == "completed" and session.stop_frame:
        return session, False
    # Open, or closed without its stop (superseded, stale, by staff): the stop is applied now,
    # once (its frame is kept, so a repeat finds it), and the caller corrects the money.
    moments = metering.parse_moments(payload.get("transactionData"))
    samples = [s for m in moments for s in m.samples]
    # transactionData repeats readings the charger already sent as MeterValues: only those
    # newer than the newest stored register move the session on (older ones are history).
    newest = _newest_register(session.id)
    fresh = [s for s in samples if newest is None or s.timestamp is None
             or s.timestamp > newest or s.context == "Transaction.Begin"]
    store_readings(station_id, session.connector_id, session.id, moments, received)
    flags = apply_registers(session, fresh)
    charger_time = metering.parse_time(payload.get("timestamp"))
    stopped_at, time_flags = billing_time(charger_time, received, clock)
    if stopped_at < session.started_at:
        stopped_at = max(received, session.started_at)
        time_flags = [*time_flags, "stop_before_start"]
    meter_stop, stop_oddity = meter_reading(payload.get("meterStop"))
    energy, energy_flags = session_energy(
        session.meter_start, meter_stop, session.first_register_wh, session.last_register_wh,
        (stopped_at - session.started_at).total_seconds(), max_power_w)
    session.meter_stop = meter_stop
    session.charger_stop_time = charger_time
    session.received_stop_at = received
    session.stopped_at = stopped_at
    session.stop_reason = str(payload.get("reason") or "Local")[:32]
    session.stop_id_tag = str(payload.get("idTag") or "")[:20]
    session.energy_wh = energy
    if not time_flags and charger_time is not None:
        _unflag_replayed_available(session, charger_time)
    session.state = "completed"
    session.stop_frame = raw
    session.updated_at = received
    add_flags(session, flags + time_flags + energy_flags
               + ([f"{stop_oddity}_meter_stop"] if stop_oddity else []))
    session.save()
    return session, True


_NEWEST_AT = fastsql.datetime_value(MeterReading.timestamp)


def _newest_register(session_id: int) -> datetime | None:
    """The time of the session's newest register reading (cached SQL: one per stop)."""
    mr = MeterReading

    def build(p: str) -> str:
        return (f"SELECT MAX({fastsql.col(mr.timestamp)}) FROM {fastsql.table(mr)} WHERE "
                f"{fastsql.col(mr.session)} = {p} AND {fastsql.col(mr.energy_wh)} IS NOT NULL")

    value = fastsql.execute(fastsql.sql("sessions:newest-register", build),
                            [session_id]).fetchone()[0]
    return None if value is None else cast("datetime", _NEWEST_AT(value))


def record_late_start(session: ChargingSession, payload: dict[str, Any], raw: str,
                      received: datetime, clock: Clock, max_power_w: int) -> bool:
    """A start that arrives after its session was stopped (an offline charger's queue sent out
    of order; the session was opened from its stop): its reading and time replace the ones
    taken from the stop, once. Returns whether the session changed (the price must follow)."""
    if session.state != "completed" or "start_after_stop" in session.flags.split(","):
        return False
    charger_time = metering.parse_time(payload.get("timestamp"))
    started_at, _ = billing_time(charger_time, received, clock)
    meter_start, _ = meter_reading(payload.get("meterStart"))
    if started_at < session.started_at:
        session.started_at, session.charger_start_time = started_at, charger_time
    if meter_start is not None and (session.meter_start is None
                                    or meter_start < session.meter_start):
        session.meter_start = meter_start
        if session.first_register_wh is None or meter_start < session.first_register_wh:
            session.first_register_wh = meter_start
    stopped = session.stopped_at or session.started_at
    session.energy_wh, energy_flags = session_energy(
        session.meter_start, session.meter_stop, session.first_register_wh,
        session.last_register_wh, (stopped - session.started_at).total_seconds(), max_power_w)
    session.start_frame = raw
    session.flags = ",".join(f for f in session.flags.split(",")
                             if f and f not in ("energy_from_samples", "energy_unknown"))
    add_flags(session, ["start_after_stop", *energy_flags])
    session.save()
    return True


def _unflag_replayed_available(session: ChargingSession, stopped: datetime) -> None:
    """After an outage a charger may replay its queued "Available" before its queued stop: by
    its own (plausible) times the stop came first, so the status was no oddity."""
    if "available_while_open" not in session.flags.split(","):
        return
    available = (StatusEvent.select(fn.MIN(StatusEvent.charger_time)).where(
        (StatusEvent.station == session.station_id)
        & (StatusEvent.connector_id == session.connector_id)
        & (StatusEvent.status == "Available")
        & (StatusEvent.received_at >= session.received_start_at)).scalar())
    if available is not None and stopped <= available:
        session.flags = ",".join(f for f in session.flags.split(",")
                                 if f != "available_while_open")


def station_power(station_id: int) -> int | None:
    """The most the station delivers, when staff have said (W)."""
    power = fastsql.get_by_id(Station, station_id).max_power_w
    return int(power) if power else None


def station_clock(station_id: int, skew_limit_s: int) -> Clock:
    st = fastsql.get_by_id(Station, station_id)
    return Clock(skew_limit_s=skew_limit_s, last_boot_at=st.last_boot_at)


def mark_flag(session_id: int, flag: str) -> None:
    (ChargingSession.update(flags=flag_expr(ChargingSession.flags, flag))
     .where(ChargingSession.id == session_id).execute())


def close_open(session_id: int, at: datetime, flag: str) -> ChargingSession | None:
    """Close an active or suspect session that never got its StopTransaction: stopped at its
    last meter reading (or last update), energy from the registers, flagged for staff.
    A StopTransaction that arrives later still corrects nothing twice: the session is done."""
    session = ChargingSession.get_or_none(ChargingSession.id == session_id)
    if session is None or session.state == "completed":
        return None
    last = (MeterReading.select(fn.MAX(MeterReading.timestamp))
            .where(MeterReading.session == session_id).scalar())
    stopped = max(session.started_at, min(last or session.updated_at, at))
    energy, energy_flags = session_energy(
        session.meter_start, None, session.first_register_wh, session.last_register_wh,
        (stopped - session.started_at).total_seconds(), MAX_POWER_W)
    session.stopped_at = stopped
    session.received_stop_at = at
    session.stop_reason = "Other"
    session.energy_wh = energy
    session.state = "completed"
    session.updated_at = at
    add_flags(session, [flag, *energy_flags])
    session.save()
    return session


def stale_suspects(older_than: datetime) -> list[int]:
    return [s.id for s in ChargingSession.select(ChargingSession.id).where(
        (ChargingSession.state == "suspect") & (ChargingSession.updated_at < older_than))]


def mark_stop_requested(session_id: int, by: str) -> None:
    """Who asked the charger to stop this session (the first to ask is kept)."""
    (ChargingSession.update(stop_requested=by).where(
        (ChargingSession.id == session_id) & (ChargingSession.stop_requested == "")).execute())
