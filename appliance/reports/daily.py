"""The pure building blocks of per-day figures (reports/stats.py stores them): local days and
their DST-aware UTC bounds, status intervals and their union, and a session's energy curve,
piecewise linear between meter readings, to split energy at the site's local midnight."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from appliance.db.models import utcnow

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
