"""Session prices: one pure function gives the live cost of a running session and the final
cost of a finished one, from the session's tariff snapshot and its facts.

The rounding rule (the README quotes it): each fee component (energy, time, session fee, idle)
is computed exactly in Decimal and rounded once, half up (half a minor unit rounds up), to the
currency's minor unit (ISO 4217 via Babel: INR 2 decimals, JPY 0, KWD 3); the fee is the sum
of the rounded components, and the tax it includes is round_half_up(fee x r / (1 + r)), so the
lines of a receipt always add up to the charge."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from babel.numbers import get_currency_precision

from appliance.billing import bands
from appliance.errors import N_, InvalidInput

MAX_DECIMALS = 4


@lru_cache(maxsize=64)
def minor_exponent(currency: str) -> int:
    """Digits of the currency's minor unit (INR 2, JPY 0, KWD 3)."""
    return int(get_currency_precision(currency))


def round_half_up(value: Decimal) -> int:
    """To a whole number of minor units; exactly half goes up (away from zero)."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_minor(major: Decimal, currency: str) -> int:
    return round_half_up(major.scaleb(minor_exponent(currency)))


def to_major_text(minor: int, currency: str) -> str:
    """Minor units as a plain major-unit number ("50.00") for messages."""
    digits = minor_exponent(currency)
    return f"{Decimal(minor).scaleb(-digits):.{digits}f}"


def parse_price(value: Any, name: str) -> Decimal:
    """A unit price: a non-negative decimal with at most 4 decimals of the major unit."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInput(N_("%(field)s must be a decimal string like \"12.5\""),
                           params={"field": name}, details={"field": name})
    try:
        price = Decimal(str(value))
    except InvalidOperation as err:
        raise InvalidInput(N_("%(field)s is not a decimal number"), params={"field": name},
                           details={"field": name}) from err
    exponent = price.normalize().as_tuple().exponent if price.is_finite() else 0
    if not price.is_finite() or price < 0 or -int(exponent) > MAX_DECIMALS:
        raise InvalidInput(N_("%(field)s must be >= 0 with at most %(decimals)s decimals"),
                           params={"field": name, "decimals": MAX_DECIMALS},
                           details={"field": name})
    return price


@dataclass(frozen=True)
class BandPrefix:
    """A running session's band pieces before `at` (a band boundary), priced already: the
    energy at `at` (`mark`, whole Wh since the start) and the Wh and seconds per band index of
    the pieces before it (billing.running keeps them on the session's row)."""

    at: datetime
    mark: int
    wh: dict[int, int]
    seconds: dict[int, int]


@dataclass(frozen=True)
class Facts:
    """What a price depends on. `end` is the stop time, or now for a live cost. `energy_at`
    gives the session's energy (Wh since its start) at an instant, from its meter samples;
    without it energy is spread evenly over the session."""

    energy_wh: int
    start: datetime
    end: datetime
    idle_s: int = 0
    energy_at: Callable[[datetime], float] | None = None
    prefix: BandPrefix | None = None  # the pieces before a boundary, when known already


@dataclass(frozen=True)
class BandLine:
    """One band's share of a session: its energy and time, and their amounts (each rounded
    once: they are components of the fee)."""

    band: int  # the index in the snapshot's bands; -1: the tariff's base prices
    name: str
    energy_wh: int
    seconds: int
    energy: int
    time: int


@dataclass(frozen=True)
class Cost:
    currency: str
    energy: int
    time: int
    session: int
    idle: int
    tax_added: int  # non-zero only when prices exclude tax
    fee: int  # what is charged: the sum of the lines above
    tax: int  # the tax inside `fee`
    lines: tuple[BandLine, ...] = ()
    idle_s: int = 0  # idle time charged (after the grace period)

    def as_dict(self) -> dict[str, Any]:
        """`dataclasses.asdict`, built by hand: its deep copy of every value (all numbers and
        text here) was 4% of a charged Authorize/Start/Stop cycle of the writer."""
        out = dict(self.__dict__)
        out["lines"] = tuple(dict(line.__dict__) for line in self.lines)
        return out


def _d(snapshot: dict[str, Any], name: str) -> Decimal:
    return _decimal(str(snapshot.get(name) or "0"))


@lru_cache(maxsize=512)
def _decimal(text: str) -> Decimal:
    """A snapshot's price text as a Decimal, parsed once: the watchdog prices every running
    session on each of its MeterValues, from a handful of distinct prices."""
    return Decimal(text)


def charges_idle(snapshot: dict[str, Any]) -> bool:
    """Whether idle time costs anything under this tariff snapshot."""
    return _d(snapshot, "idle_per_hour") != 0


def _whole(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _cumulative(facts: Facts, end: datetime) -> Callable[[datetime], int]:
    """Whole Wh since the start at an instant, ending exactly at the session's energy: band
    shares are differences of this, so they always add up to the total."""
    total = max(0, facts.energy_wh)
    span = (end - facts.start).total_seconds()

    def at(moment: datetime) -> int:
        if moment >= end:
            return total
        if moment <= facts.start or span <= 0:
            return 0
        raw = facts.energy_at(moment) if facts.energy_at is not None else \
            total * (moment - facts.start).total_seconds() / span
        return min(total, max(0, round(raw)))
    return at


def band_prices(snapshot: dict[str, Any], band: int) -> tuple[str, Decimal, Decimal]:
    """(name, energy per kWh, time per hour) of a band, or of the base prices (-1)."""
    found = (snapshot.get("bands") or [])
    if 0 <= band < len(found):
        raw = found[band]
        return (str(raw.get("name") or ""), Decimal(str(raw.get("energy_per_kwh") or "0")),
                Decimal(str(raw.get("time_per_hour") or "0")))
    return "", _d(snapshot, "energy_per_kwh"), _d(snapshot, "time_per_hour")


def band_lines(snapshot: dict[str, Any], facts: Facts) -> tuple[BandLine, ...]:
    """The session's energy and time per band, each band's amounts rounded once."""
    currency = str(snapshot.get("currency") or "INR")
    start, end = _whole(facts.start), _whole(facts.end)
    at = _cumulative(facts, end)
    wh: dict[int, int] = {}
    seconds: dict[int, int] = {}
    first = 0
    if facts.prefix is not None and start < facts.prefix.at < end:
        # The pieces before the boundary are the same whatever comes after it: only the rest.
        start, first = facts.prefix.at, facts.prefix.mark
        wh, seconds = dict(facts.prefix.wh), dict(facts.prefix.seconds)
    cut = bands.pieces(snapshot, start, end)
    # The first piece starts at 0 Wh and the last ends at the total, even for a session of no
    # duration (a meter that moved within one second).
    marks = [first, *(at(hi) for _, hi, _ in cut[:-1]), max(0, facts.energy_wh)]
    for i, (lo, hi, band) in enumerate(cut):
        wh[band] = wh.get(band, 0) + marks[i + 1] - marks[i]
        seconds[band] = seconds.get(band, 0) + int((hi - lo).total_seconds())
    out = []
    for band in sorted(wh):
        name, per_kwh, per_hour = band_prices(snapshot, band)
        out.append(BandLine(band, name, wh[band], seconds[band],
                            to_minor(per_kwh * wh[band] / 1000, currency),
                            to_minor(per_hour * seconds[band] / 3600, currency)))
    return tuple(out)


def idle_charge(snapshot: dict[str, Any], idle_s: int, seconds: int) -> tuple[int, int]:
    """(idle seconds charged, amount): after the grace period, capped per session."""
    currency = str(snapshot.get("currency") or "INR")
    grace_s = int(snapshot.get("idle_grace_min") or 0) * 60
    charged = max(0, min(idle_s, seconds) - grace_s)
    amount = to_minor(_d(snapshot, "idle_per_hour") * charged / 3600, currency)
    cap = int(snapshot.get("idle_cap") or 0)
    return charged, min(amount, cap) if cap else amount


def price(snapshot: dict[str, Any], facts: Facts) -> Cost:
    """The cost of a session under a tariff snapshot (see `billing.tariffs.snapshot`): the one
    price function of every surface (live cost, final cost, receipt, QR page, API preview)."""
    currency = str(snapshot.get("currency") or "INR")
    seconds = max(0, int((_whole(facts.end) - _whole(facts.start)).total_seconds()))
    energy_wh = max(0, facts.energy_wh)
    if snapshot.get("bands"):
        lines = band_lines(snapshot, facts)
    else:  # `band_lines` without bands: one line at the base prices, worked out directly
        _, per_kwh, per_hour = band_prices(snapshot, bands.BASE)
        lines = (BandLine(bands.BASE, "", energy_wh, seconds,
                          to_minor(per_kwh * energy_wh / 1000, currency),
                          to_minor(per_hour * seconds / 3600, currency)),)
    energy = sum(line.energy for line in lines)
    time_fee = sum(line.time for line in lines)
    # A failed plug-in costs nothing: the session fee needs a minimum of energy.
    min_wh = int(snapshot.get("session_fee_min_wh") or 0)
    session = to_minor(_d(snapshot, "session_fee"), currency) if energy_wh >= min_wh else 0
    idle_s, idle = idle_charge(snapshot, facts.idle_s, seconds)
    net = energy + time_fee + session + idle
    rate = _d(snapshot, "tax_rate")
    if snapshot.get("prices_include_tax", True):
        tax = round_half_up(Decimal(net) * rate / (1 + rate))
        return Cost(currency, energy, time_fee, session, idle, 0, net, tax, lines, idle_s)
    added = round_half_up(Decimal(net) * rate)
    return Cost(currency, energy, time_fee, session, idle, added, net + added, added, lines,
                idle_s)


@dataclass(frozen=True)
class Growth:
    """How fast `price` can grow for a tariff snapshot without bands or idle fees: its fee is
    then the energy line, the time line and the session fee, each rounded once (and the tax
    added on top where prices exclude it), all of them non-decreasing in the session's energy
    and duration. So a fee known at one point bounds the fee at a later one."""

    per_wh: float  # minor units per Wh, before tax
    per_s: float  # minor units per second, before tax
    session_fee: int  # minor units, before tax, once the session reaches `min_wh`
    min_wh: int
    factor: float  # 1, or 1 + the tax rate where prices exclude it

    def bound(self, fee: int, energy_wh: int, later_wh: int, seconds: float) -> int:
        """An upper bound (minor units) of the fee after the session's energy went from
        `energy_wh` to `later_wh` and `seconds` more passed, `fee` being the exact fee before.
        Each rounded line may move by one minor unit more than its exact amount (two lines,
        and the added tax); one second more covers whole-second truncation."""
        net = (self.per_wh * max(0, later_wh - energy_wh) + self.per_s * (max(0.0, seconds) + 1)
               + (self.session_fee if energy_wh < self.min_wh else 0) + 2)
        return fee + math.ceil(net * self.factor) + 2


def growth(snapshot: dict[str, Any]) -> Growth | None:
    """The snapshot's `Growth`, or None where no simple bound holds: band prices (energy
    spread over the bands by interpolation moves between them as the session goes on) and idle
    fees (a status that arrives late may add idle time in the past)."""
    if snapshot.get("bands") or charges_idle(snapshot):
        return None
    currency = str(snapshot.get("currency") or "INR")
    scale = Decimal(10) ** minor_exponent(currency)
    _, per_kwh, per_hour = band_prices(snapshot, bands.BASE)
    rate = _d(snapshot, "tax_rate")
    factor = 1.0 if snapshot.get("prices_include_tax", True) else float(1 + rate)
    return Growth(float(per_kwh * scale / 1000), float(per_hour * scale / 3600),
                  to_minor(_d(snapshot, "session_fee"), currency),
                  int(snapshot.get("session_fee_min_wh") or 0), factor)


IDLE_STATES = ("SuspendedEV", "Finishing")  # the car is done; SuspendedEVSE is the site's limit


def idle_seconds(statuses: list[tuple[datetime, str]], start: datetime, end: datetime) -> int:
    """Time inside the transaction in the charger's own "car is done" states, from the
    connector's ordered (time, status) history; each status holds until the next one (or the
    end), and the last one before the start is the state at the start."""
    statuses = sorted(statuses, key=lambda row: row[0])  # stable: same times keep their order
    before = [s for t, s in statuses if t <= start]
    points = ([(start, before[-1])] if before else []) + \
        [(t, s) for t, s in statuses if start < t < end]
    total = 0.0
    for i, (moment, status) in enumerate(points):
        until = points[i + 1][0] if i + 1 < len(points) else end
        if status in IDLE_STATES:
            total += max(0.0, (until - moment).total_seconds())
    return int(total)
