"""The pure building blocks of per-day figures (reports/stats.py stores them): local days and
their DST-aware UTC bounds, status intervals and their union, and a session's energy curve,
piecewise linear between meter readings, to split energy at the site's local midnight."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from appliance.charging.curves import EnergyCurve, session_curve

Interval = tuple[datetime, datetime]
__all__ = ["EnergyCurve", "Interval", "day_bounds", "days", "overlap_s", "session_curve",
           "status_intervals", "union"]


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
