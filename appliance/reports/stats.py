"""Daily statistics per charger and connector per local day: computed for one day from the raw
history (status events, sessions, meter samples, charge rows), stored by the nightly job, and read
back by the pages and the API, which compute only the days not stored yet (today) on the fly.

A charger's row has connector_id 0 and holds the union over its connectors (at most a day long);
energy, fees and sessions are the sums, drivers the distinct count over the charger."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from peewee import fn

from appliance.db.models import (
    ChargingSession,
    Connector,
    MeterReading,
    Station,
    StatusEvent,
    utcnow,
)
from appliance.db.models_money import LedgerEntry
from appliance.db.models_reports import DailyStat, SessionCurve
from appliance.db.sums import money_sum
from appliance.reports.daily import (
    EnergyCurve,
    Interval,
    day_bounds,
    days,
    overlap_s,
    session_curve,
    status_intervals,
    union,
)

# Which OCPP statuses count as which figure; Preparing, Finishing and the Suspended states count
# as none of them (a car is plugged in but not drawing, which is neither free nor broken).
GROUPS = {"charging": ("Charging",), "available": ("Available",),
          "faulted": ("Faulted", "Unavailable")}
Key = tuple[int, int]  # (station id, connector id)
LONGEST = timedelta(days=14)


@dataclass
class StatRow:
    station_id: int
    connector_id: int
    day: date
    charging_s: float = 0.0
    available_s: float = 0.0
    faulted_s: float = 0.0
    energy_wh: int = 0
    fees_minor: int = 0
    sessions: int = 0
    drivers: int = 0
    refused: int = 0  # starts we answered with anything but Accepted: counted apart
    driver_keys: set[str] = field(default_factory=set, repr=False)

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out.pop("driver_keys")
        out["day"] = self.day.isoformat()
        return out


# --- reading the raw history --------------------------------------------------------------------
def _stations(window: Interval, station_ids: Iterable[int] | None) -> list[Station]:
    # A station counts from its first connection, or from its first session: a charger that
    # ran offline (or a replacement box taking over) replays sessions from before it was seen.
    with_sessions = ChargingSession.select(ChargingSession.station).where(
        (ChargingSession.started_at >= window[0]) & (ChargingSession.started_at < window[1]))
    query = Station.select().where(((Station.first_seen_at < window[1])
                                    | Station.id.in_(with_sessions))
                                   & (Station.retired_at.is_null()
                                      | (Station.retired_at > window[0])))
    if station_ids is not None:
        query = query.where(Station.id.in_(list(station_ids)))
    return list(query)


def _status_history(window: Interval, ids: list[int]) -> dict[Key, list[tuple[datetime, str]]]:
    """Every connector's (time, status) events in the window, led by the last one before it."""
    start, end = window
    rows = list(StatusEvent.select(StatusEvent.station, StatusEvent.connector_id,
                                   StatusEvent.received_at, StatusEvent.status)
                .where((StatusEvent.received_at >= start) & (StatusEvent.received_at < end)
                       & (StatusEvent.connector_id > 0) & StatusEvent.station.in_(ids))
                .order_by(StatusEvent.received_at, StatusEvent.id).tuples())
    keys = {(c.station_id, c.connector_id) for c in Connector.select(
        Connector.station, Connector.connector_id).where(
        (Connector.connector_id > 0) & Connector.station.in_(ids))}
    keys |= {(sid, cid) for sid, cid, _, _ in rows}
    history: dict[Key, list[tuple[datetime, str]]] = defaultdict(list)
    for key in sorted(keys):
        # One index probe per connector: a GROUP BY over all earlier events would read the
        # whole history every night.
        for _moment, status in (StatusEvent.select(StatusEvent.received_at, StatusEvent.status)
                               .where((StatusEvent.station == key[0])
                                      & (StatusEvent.connector_id == key[1])
                                      & (StatusEvent.received_at < start))
                               .order_by(StatusEvent.received_at.desc()).limit(1).tuples()):
            history[key].append((start, status))
    for station_id, connector_id, moment, status in rows:
        history[(station_id, connector_id)].append((moment, status))
    return history


def _curves(window: Interval, ids: list[int]
            ) -> list[tuple[ChargingSession, EnergyCurve]]:
    """Each session overlapping the window with its energy curve: from the raw register
    samples, or from the stored downsampled curve once those are pruned."""
    start, end = window
    # Bounded by the started_at index: finished sessions longer than LONGEST are none of
    # ours (suspect ones are closed after hours), and the open ones come by their state.
    recent = ChargingSession.select().where(
        ChargingSession.station.in_(ids) & (ChargingSession.started_at >= start - LONGEST)
        & (ChargingSession.started_at < end)
        & (ChargingSession.stopped_at.is_null() | (ChargingSession.stopped_at > start)))
    still_open = ChargingSession.select().where(
        ChargingSession.station.in_(ids) & ChargingSession.state.in_(("active", "suspect"))
        & (ChargingSession.started_at < start - LONGEST))
    sessions = list(recent) + [s for s in still_open
                               if s.stopped_at is None or s.stopped_at > start]
    readings: dict[int, list[tuple[datetime, float]]] = defaultdict(list)
    for chunk in _chunks([s.id for s in sessions], 500):
        for sid, moment, value in (
                MeterReading.select(MeterReading.session, MeterReading.timestamp,
                                    MeterReading.energy_wh)
                .where(MeterReading.session.in_(chunk) & MeterReading.energy_wh.is_null(False))
                .tuples()):
            readings[sid].append((moment, value))
    stored = {c.session_id: c.points for c in SessionCurve.select().where(
        SessionCurve.session.in_([s.id for s in sessions if s.id not in readings]))}
    out = []
    for s in sessions:
        if s.id in stored:
            out.append((s, stored_curve(s.started_at, stored[s.id])))
            continue
        base = s.meter_start if s.meter_start not in (None, 0) else s.first_register_wh
        out.append((s, session_curve(s.started_at, s.stopped_at, s.energy_wh,
                                     readings.get(s.id, []), base)))
    return out


def stored_curve(started: datetime, points_json: str) -> EnergyCurve:
    points = json.loads(points_json)
    return EnergyCurve([started + timedelta(seconds=t) for t, _ in points],
                       [float(wh) for _, wh in points])


def _fees(window: Interval, ids: list[int]) -> dict[Key, int]:
    """Charge rows posted in the window, by the session's charger and connector (a charge row
    is negative: it takes money from the balance)."""
    rows = (LedgerEntry.select(ChargingSession.station, ChargingSession.connector_id,
                               money_sum(LedgerEntry.amount))
            .join(ChargingSession, on=(LedgerEntry.session == ChargingSession.id))
            .where((LedgerEntry.kind == "charge") & (LedgerEntry.created_at >= window[0])
                   & (LedgerEntry.created_at < window[1]) & ChargingSession.station.in_(ids))
            .group_by(ChargingSession.station, ChargingSession.connector_id).tuples())
    return {(sid, cid): -int(total or 0) for sid, cid, total in rows}


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


# --- one day --------------------------------------------------------------------------------------
def compute_day(day: date, tz: ZoneInfo, now: datetime | None = None,
                station_ids: Iterable[int] | None = None) -> list[StatRow]:
    """Rows for every charger (and its connectors) on one local day; up to `now` for today."""
    now = now or utcnow()
    window = day_bounds(day, tz)
    if window[0] >= now:
        return []
    stations = _stations(window, station_ids)
    ids = [s.id for s in stations]
    history = _status_history(window, ids)
    curves = _curves(window, ids)
    fees = _fees(window, ids)
    known = {(c.station_id, c.connector_id) for c in Connector.select(
        Connector.station, Connector.connector_id).where(
        (Connector.connector_id > 0) & Connector.station.in_(ids))}
    known |= set(history) | {(s.station_id, s.connector_id) for s, _ in curves} | set(fees)
    rows: list[StatRow] = []
    for station in stations:
        connectors = sorted(c for sid, c in known if sid == station.id)
        rows.extend(_station_rows(station, connectors, day, window, now, history, curves, fees))
    return rows


def _station_rows(station: Station, connectors: list[int], day: date, window: Interval,
                  now: datetime, history: dict[Key, list[tuple[datetime, str]]],
                  curves: list[tuple[ChargingSession, EnergyCurve]], fees: dict[Key, int]
                  ) -> list[StatRow]:
    end = min(window[1], now)
    # An offline charger's statuses end when it was last heard; the rest of the day is offline.
    until = end if station.online else min(end, station.last_seen_at or window[0])
    offline = [(max(until, window[0], station.first_seen_at), end)]
    whole = StatRow(station.id, 0, day)
    spans: dict[str, list[Interval]] = defaultdict(list)
    per_conn = []
    for connector in connectors:
        row = StatRow(station.id, connector, day, fees_minor=fees.get((station.id, connector), 0))
        events = history.get((station.id, connector), [])
        for group, statuses in GROUPS.items():
            ivs = union(i for s in statuses for i in status_intervals(events, s, until))
            if group == "faulted":
                ivs = union([*ivs, *offline])
            spans[group].extend(ivs)
            setattr(row, f"{group}_s", overlap_s(ivs, window))
        per_conn.append(row)
    if not connectors:
        spans["faulted"].extend(offline)
    for group in GROUPS:
        setattr(whole, f"{group}_s", overlap_s(union(spans[group]), window))
    by_conn = {r.connector_id: r for r in per_conn}
    for session, curve in curves:
        conn_row = by_conn.get(session.connector_id) if session.station_id == station.id else None
        if conn_row is None:
            continue
        conn_row.energy_wh += round(curve.between(window))
        if window[0] <= session.started_at < window[1] and session.start_status != "Accepted":
            conn_row.refused += 1  # a refused start is no session and no driver of the day
        elif window[0] <= session.started_at < window[1]:
            conn_row.sessions += 1
            conn_row.driver_keys.add(f"d{session.driver_id}" if session.driver_id
                                     else f"t{session.id_tag_key}")
    for row in per_conn:
        row.drivers = len(row.driver_keys)
        whole.energy_wh += row.energy_wh
        whole.fees_minor += row.fees_minor
        whole.sessions += row.sessions
        whole.refused += row.refused
        whole.driver_keys |= row.driver_keys
    whole.drivers = len(whole.driver_keys)
    return [whole, *per_conn]


# --- storing and reading back ---------------------------------------------------------------------
def store_day(day: date, rows: list[StatRow], station_ids: list[int] | None = None) -> int:
    """Replace the day's rows (of some chargers: one site's) for the writer: computing a day
    twice gives the same rows."""
    DailyStat.delete().where((DailyStat.day == day) & (
        DailyStat.station.in_(station_ids) if station_ids is not None else True)).execute()
    stamp = utcnow()
    values = [{**{k: v for k, v in r.as_dict().items() if k not in ("station_id", "day")},
               "station": r.station_id, "day": day, "computed_at": stamp} for r in rows]
    for i in range(0, len(values), 200):
        DailyStat.insert_many(values[i:i + 200]).execute()
    return len(values)


def from_stored(r: DailyStat) -> StatRow:
    return StatRow(r.station_id, r.connector_id, r.day, r.charging_s, r.available_s, r.faulted_s,
                   r.energy_wh, r.fees_minor, r.sessions, r.drivers, r.refused)


def station_daily(station_id: int, first: date, last: date, tz: ZoneInfo,
                  now: datetime | None = None) -> list[tuple[StatRow, list[StatRow]]]:
    """(charger row, connector rows) per day: stored rows where the nightly job wrote them,
    computed on the fly for the others (today, or a day not caught up yet)."""
    now = now or utcnow()
    stored: dict[date, list[StatRow]] = defaultdict(list)
    for r in DailyStat.select().where((DailyStat.station == station_id) & (DailyStat.day >= first)
                                      & (DailyStat.day <= last)).order_by(DailyStat.connector_id):
        stored[r.day].append(from_stored(r))
    # Days that ended before the charger was first seen and before its first session have
    # nothing to compute (compute_day would find no row): a charger added last week does not
    # read the history of the three weeks before it, a day at a time.
    began = (Station.select(Station.first_seen_at).where(Station.id == station_id).scalar(),
             ChargingSession.select(fn.MIN(ChargingSession.started_at))
             .where(ChargingSession.station == station_id).scalar())
    earliest = min((b for b in began if b is not None), default=None)
    out = []
    for day in days(first, last):
        rows = stored.get(day) or (
            [] if earliest is not None and day_bounds(day, tz)[1] <= earliest
            else compute_day(day, tz, now, [station_id]))
        if not rows:
            rows = [StatRow(station_id, 0, day)]
        out.append((rows[0], rows[1:]))
    return out


def site_daily(first: date, last: date, sites: frozenset[int] | None = None) -> list[StatRow]:
    """Stored charger rows (connector 0) of every charger (of some sites, when `sites` names
    them) over a range, for summaries: across sites when several are named."""
    query = DailyStat.select().where(
        (DailyStat.connector_id == 0) & (DailyStat.day >= first) & (DailyStat.day <= last))
    if sites is not None:
        query = query.where(DailyStat.station.in_(
            Station.select(Station.id).where(Station.site_id.in_(sorted(sites)))))
    return [from_stored(r) for r in query.order_by(DailyStat.day, DailyStat.station)]
