"""A session's energy over time, piecewise linear between its meter readings: what splits its
energy at the site's local midnight (daily figures) and at a tariff's band boundaries (prices),
so both interpolate the same way."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from appliance.db.models import utcnow

Interval = tuple[datetime, datetime]


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
