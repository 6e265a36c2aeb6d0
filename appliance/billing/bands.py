"""Time-of-day and day-type bands of a tariff: which band's prices hold at an instant, and a
session's time cut into pieces of one band each, in the site's time zone and DST-safe.

A band covers a local time-of-day range (22:00-06:00 wraps past midnight) on the local dates of
its day type: `all`, `weekday`, `weekend` or `holiday` (a site holiday; a holiday with no
holiday band is priced as a weekend). Each local date is judged alone, so Saturday 00:00-06:00
is weekend time even when a weekday band runs 22:00-06:00. The first band that matches wins;
time outside every band has the tariff's base prices (band index -1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from appliance.errors import N_, InvalidInput

DAY_KINDS = ("all", "weekday", "weekend", "holiday")
BASE = -1  # the index of "no band": the tariff's own prices


@dataclass(frozen=True)
class Band:
    name: str
    days: str
    start: time
    end: time  # equal to start: the whole day
    energy_per_kwh: Decimal
    time_per_hour: Decimal

    def covers(self, moment: time) -> bool:
        if self.start == self.end:
            return True
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


def parse_clock(value: Any, field: str) -> time:
    """"HH:MM" (24:00 is midnight)."""
    text = str(value or "").strip()
    try:
        hours, minutes = (int(x) for x in text.split(":"))
        if hours == 24 and minutes == 0:
            return time(0, 0)
        return time(hours, minutes)
    except (TypeError, ValueError) as err:
        raise InvalidInput(N_("%(field)s: a time like 22:00"), params={"field": field},
                           details={"field": field}) from err


def band_from(raw: dict[str, Any]) -> Band:
    days = str(raw.get("days") or "all")
    if days not in DAY_KINDS:
        raise InvalidInput(N_("Band days are one of %(kinds)s."),
                           params={"kinds": ", ".join(DAY_KINDS)}, details={"field": "bands"})
    return Band(str(raw.get("name") or "").strip()[:40] or f"{raw.get('start')}-{raw.get('end')}",
                days, parse_clock(raw.get("start"), "bands.start"),
                parse_clock(raw.get("end"), "bands.end"),
                Decimal(str(raw.get("energy_per_kwh") or "0")),
                Decimal(str(raw.get("time_per_hour") or "0")))


@dataclass(frozen=True)
class Calendar:
    """What a snapshot's bands need to judge an instant."""

    bands: tuple[Band, ...]
    tz: ZoneInfo
    holidays: frozenset[date]

    def kinds(self, day: date) -> tuple[str, ...]:
        if day in self.holidays:
            return ("holiday", "weekend")
        return ("weekend",) if day.weekday() >= 5 else ("weekday",)

    def band_at(self, moment: datetime) -> int:
        """The band index holding at a naive UTC instant (BASE if none)."""
        local = moment.replace(tzinfo=UTC).astimezone(self.tz)
        tod = local.time().replace(tzinfo=None)
        for kind in self.kinds(local.date()):
            for i, band in enumerate(self.bands):
                if band.days in (kind, "all") and band.covers(tod):
                    return i
        return BASE


def calendar_of(snapshot: dict[str, Any]) -> Calendar:
    bands = tuple(snapshot.get("bands") or ())
    return _calendar(tuple(tuple(sorted(b.items())) for b in bands),
                     str(snapshot.get("timezone") or "UTC"),
                     tuple(snapshot.get("holidays") or ()))


@lru_cache(maxsize=128)
def _calendar(bands: tuple[tuple[tuple[str, Any], ...], ...], tz: str,
              holidays: tuple[str, ...]) -> Calendar:
    return Calendar(tuple(band_from(dict(b)) for b in bands), ZoneInfo(tz),
                    frozenset(date.fromisoformat(h) for h in holidays))


def _utc(day: date, moment: time, tz: ZoneInfo, fold: int) -> datetime:
    local = datetime.combine(day, moment, tzinfo=tz).replace(fold=fold)
    return local.astimezone(UTC).replace(tzinfo=None)


def _offset(moment: datetime, tz: ZoneInfo) -> timedelta | None:
    return moment.replace(tzinfo=UTC).astimezone(tz).utcoffset()


def _transition(lo: datetime, hi: datetime, tz: ZoneInfo) -> datetime:
    """The first second in (lo, hi] with hi's UTC offset (a DST change), by bisection."""
    target = _offset(hi, tz)
    while (hi - lo) > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if _offset(mid, tz) == target:
            hi = mid
        else:
            lo = mid
    return hi


def _breakpoints(cal: Calendar, start: datetime, end: datetime) -> list[datetime]:
    """Every instant in (start, end) where the band may change: local midnights, band edges
    (both readings of a repeated hour) and the DST changes themselves."""
    first = start.replace(tzinfo=UTC).astimezone(cal.tz).date() - timedelta(days=1)
    last = end.replace(tzinfo=UTC).astimezone(cal.tz).date() + timedelta(days=1)
    edges = {time(0, 0)} | {b.start for b in cal.bands} | {b.end for b in cal.bands}
    points: set[datetime] = set()
    day = first
    while day <= last:
        for moment in edges:
            points.add(_utc(day, moment, cal.tz, 0))
            points.add(_utc(day, moment, cal.tz, 1))
        lo, hi = _utc(day, time(0, 0), cal.tz, 0), _utc(day + timedelta(days=1), time(0, 0),
                                                          cal.tz, 0)
        if _offset(lo, cal.tz) != _offset(hi, cal.tz):
            points.add(_transition(lo, hi, cal.tz))
        day += timedelta(days=1)
    return sorted(p for p in points if start < p < end)


def pieces(snapshot: dict[str, Any], start: datetime, end: datetime
           ) -> list[tuple[datetime, datetime, int]]:
    """[start, end) cut where the band changes: (from, to, band index), in order, adjacent
    pieces of the same band merged. Without bands: one piece at the base prices."""
    if end <= start:
        return [(start, start, BASE)]
    cal = calendar_of(snapshot)
    if not cal.bands:
        return [(start, end, BASE)]
    cuts = [start, *_breakpoints(cal, start, end), end]
    out: list[tuple[datetime, datetime, int]] = []
    for lo, hi in zip(cuts, cuts[1:], strict=False):
        band = cal.band_at(lo + (hi - lo) / 2)
        if out and out[-1][2] == band:
            out[-1] = (out[-1][0], hi, band)
        else:
            out.append((lo, hi, band))
    return out


def band_at(snapshot: dict[str, Any], moment: datetime) -> int:
    return calendar_of(snapshot).band_at(moment)
