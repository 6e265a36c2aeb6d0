"""Per-day figures of a charger: hours charging (per connector the time in Charging, per charger
the union over its connectors), energy split at the site's local midnight by interpolating the
meter samples, sessions started. Days are local dates; bounds are DST-aware.

The functions here are pure where they can be (intervals and curves in, numbers out) and the
database reads are small functions for `database.read`."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from appliance.charging.metering import ENERGY_REGISTER
from appliance.db.models import ChargingSession, MeterSample, Station, StatusEvent, utcnow

Interval = tuple[datetime, datetime]


def day_bounds(day: date, tz: ZoneInfo) -> Interval:
    """The UTC (naive) start and end of a local day; 23 or 25 hours long across DST."""
    start = datetime.combine(day, time(), tzinfo=tz).astimezone(UTC).replace(tzinfo=None)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz).astimezone(UTC)
    return start, end.replace(tzinfo=None)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def union(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def overlap_s(intervals: Sequence[Interval], window: Interval) -> float:
    total = 0.0
    for start, end in intervals:
        lo, hi = max(start, window[0]), min(end, window[1])
        if hi > lo:
            total += (hi - lo).total_seconds()
    return total


def status_intervals(events: Sequence[tuple[datetime, str]], status: str, until: datetime
                     ) -> list[Interval]:
    """Intervals a connector spent in `status`, from its ordered (time, status) history."""
    out = []
    for i, (moment, current) in enumerate(events):
        if current != status:
            continue
        end = events[i + 1][0] if i + 1 < len(events) else until
        out.append((moment, max(moment, end)))
    return out


@dataclass
class EnergyCurve:
    """Cumulative energy of one session over time, piecewise linear between readings."""

    times: list[datetime] = field(default_factory=list)
    wh: list[float] = field(default_factory=list)

    def at(self, moment: datetime) -> float:
        if not self.times or moment <= self.times[0]:
            return 0.0
        if moment >= self.times[-1]:
            return self.wh[-1]
        i = bisect_right(self.times, moment)
        t0, t1, e0, e1 = self.times[i - 1], self.times[i], self.wh[i - 1], self.wh[i]
        span = (t1 - t0).total_seconds()
        return e0 if span <= 0 else e0 + (e1 - e0) * (moment - t0).total_seconds() / span

    def between(self, window: Interval) -> float:
        return max(0.0, self.at(window[1]) - self.at(window[0]))


def session_curve(started: datetime, stopped: datetime | None, total_wh: int,
                  readings: Sequence[tuple[datetime, float]], base_wh: float | None
                  ) -> EnergyCurve:
    """A monotone curve from the start (0) through the register readings to the total."""
    curve = EnergyCurve([started], [0.0])
    for moment, value in sorted(readings):
        if base_wh is None or not started < moment < (stopped or moment + timedelta(1)):
            continue
        delta = min(max(value - base_wh, curve.wh[-1]), float(total_wh))
        if moment > curve.times[-1]:
            curve.times.append(moment)
            curve.wh.append(delta)
    end = stopped or max(curve.times[-1], utcnow())
    if end > curve.times[-1]:
        curve.times.append(end)
        curve.wh.append(float(total_wh))
    else:
        curve.wh[-1] = float(total_wh)
    return curve


@dataclass
class DayRow:
    day: date
    charging_s: float = 0.0
    energy_wh: float = 0.0
    sessions: int = 0
    fees_minor: int = 0
    connectors: dict[int, float] = field(default_factory=dict)  # connector -> charging seconds


def _connector_events(station_id: int, start: datetime, end: datetime
                      ) -> dict[int, list[tuple[datetime, str]]]:
    events: dict[int, list[tuple[datetime, str]]] = {}
    # One event before the window tells the state the window starts in.
    for connector_id in {c for (c,) in StatusEvent.select(StatusEvent.connector_id).where(
            (StatusEvent.station == station_id) & (StatusEvent.connector_id > 0)).tuples()}:
        before = (StatusEvent.select(StatusEvent.received_at, StatusEvent.status)
                  .where((StatusEvent.station == station_id)
                         & (StatusEvent.connector_id == connector_id)
                         & (StatusEvent.received_at < start))
                  .order_by(StatusEvent.received_at.desc()).limit(1).tuples())
        inside = (StatusEvent.select(StatusEvent.received_at, StatusEvent.status)
                  .where((StatusEvent.station == station_id)
                         & (StatusEvent.connector_id == connector_id)
                         & (StatusEvent.received_at >= start) & (StatusEvent.received_at < end))
                  .order_by(StatusEvent.received_at, StatusEvent.id).tuples())
        events[connector_id] = [(max(t, start), s) for t, s in before] + list(inside)
    return events


def _session_curves(station_id: int, start: datetime, end: datetime
                    ) -> list[tuple[ChargingSession, EnergyCurve]]:
    sessions = list(ChargingSession.select().where(
        (ChargingSession.station == station_id) & (ChargingSession.started_at < end)
        & (ChargingSession.stopped_at.is_null() | (ChargingSession.stopped_at > start))))
    readings: dict[int, list[tuple[datetime, float]]] = {}
    registers = (MeterSample.select(MeterSample.session, MeterSample.timestamp, MeterSample.value)
                 .where(MeterSample.session.in_([s.id for s in sessions])
                        & (MeterSample.measurand == ENERGY_REGISTER)
                        & (MeterSample.phase == "") & MeterSample.value.is_null(False))
                 .tuples())
    for sid, moment, value in registers:
        readings.setdefault(sid, []).append((moment, value))
    out = []
    for s in sessions:
        base = s.meter_start if s.meter_start not in (None, 0) else s.first_register_wh
        out.append((s, session_curve(s.started_at, s.stopped_at, s.energy_wh,
                                     readings.get(s.id, []), base)))
    return out


def station_days(station_id: int, first: date, last: date, tz: ZoneInfo,
                 now: datetime | None = None) -> list[DayRow]:
    """Per-day rows for one charger, computed from the raw history."""
    now = now or utcnow()
    window = (day_bounds(first, tz)[0], day_bounds(last, tz)[1])
    station = Station.get_by_id(station_id)
    until = min(window[1], now if station.online else (station.last_seen_at or now))
    per_connector = {c: status_intervals(ev, "Charging", until)
                     for c, ev in _connector_events(station_id, *window).items()}
    whole = union(i for ivs in per_connector.values() for i in ivs)
    curves = _session_curves(station_id, *window)
    rows = []
    for day in days(first, last):
        bounds = day_bounds(day, tz)
        row = DayRow(day, charging_s=overlap_s(whole, bounds))
        row.connectors = {c: overlap_s(ivs, bounds) for c, ivs in per_connector.items()}
        for session, curve in curves:
            row.energy_wh += curve.between(bounds)
            row.sessions += bounds[0] <= session.started_at < bounds[1]
        rows.append(row)
    return rows
