"""Session prices: one pure function gives the live cost of a running session and the final
cost of a finished one, from the session's tariff snapshot and its facts.

The rounding rule (the README quotes it): each fee component (energy, time, session fee, idle)
is computed exactly in Decimal and rounded once, half up (half a minor unit rounds up), to the
currency's minor unit (ISO 4217 via Babel: INR 2 decimals, JPY 0, KWD 3); the fee is the sum
of the rounded components, and the tax it includes is round_half_up(fee x r / (1 + r)), so the
lines of a receipt always add up to the charge."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from babel.numbers import get_currency_precision

from appliance.errors import InvalidInput

IDLE_POWER_W = 200  # below this a car counts as idle
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
        raise InvalidInput(f"{name} must be a decimal string like \"12.5\"",
                           details={"field": name})
    try:
        price = Decimal(str(value))
    except InvalidOperation as err:
        raise InvalidInput(f"{name} is not a decimal number", details={"field": name}) from err
    exponent = price.normalize().as_tuple().exponent if price.is_finite() else 0
    if not price.is_finite() or price < 0 or -int(exponent) > MAX_DECIMALS:
        raise InvalidInput(f"{name} must be >= 0 with at most {MAX_DECIMALS} decimals",
                           details={"field": name})
    return price


@dataclass(frozen=True)
class Facts:
    """What a price depends on. `end` is the stop time, or now for a live cost."""

    energy_wh: int
    start: datetime
    end: datetime
    idle_s: int = 0


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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _d(snapshot: dict[str, Any], name: str) -> Decimal:
    return Decimal(str(snapshot.get(name) or "0"))


def charges_idle(snapshot: dict[str, Any]) -> bool:
    """Whether idle time costs anything under this tariff snapshot."""
    return _d(snapshot, "idle_per_hour") != 0


def price(snapshot: dict[str, Any], facts: Facts) -> Cost:
    """The cost of a session under a tariff snapshot (see `billing.tariffs.snapshot`)."""
    currency = str(snapshot.get("currency") or "INR")
    seconds = max(0, int((facts.end - facts.start).total_seconds()))
    energy_wh = max(0, facts.energy_wh)
    energy = to_minor(_d(snapshot, "energy_per_kwh") * energy_wh / 1000, currency)
    time_fee = to_minor(_d(snapshot, "time_per_hour") * seconds / 3600, currency)
    # A failed plug-in costs nothing: the session fee needs a minimum of energy.
    min_wh = int(snapshot.get("session_fee_min_wh") or 0)
    session = to_minor(_d(snapshot, "session_fee"), currency) if energy_wh >= min_wh else 0
    grace_s = int(snapshot.get("idle_grace_min") or 0) * 60
    idle_s = max(0, min(facts.idle_s, seconds) - grace_s)
    idle = to_minor(_d(snapshot, "idle_per_hour") * idle_s / 3600, currency)
    net = energy + time_fee + session + idle
    rate = _d(snapshot, "tax_rate")
    if snapshot.get("prices_include_tax", True):
        tax = round_half_up(Decimal(net) * rate / (1 + rate))
        return Cost(currency, energy, time_fee, session, idle, 0, net, tax)
    added = round_half_up(Decimal(net) * rate)
    return Cost(currency, energy, time_fee, session, idle, added, net + added, added)


def idle_seconds(power_samples: list[tuple[datetime, float]], start: datetime,
                 end: datetime) -> int:
    """Time inside the transaction with power under 200 W, from the power samples: each sample
    holds until the next one (or the end)."""
    total = 0.0
    points = sorted((max(t, start), p) for t, p in power_samples if t < end)
    for i, (moment, power) in enumerate(points):
        until = points[i + 1][0] if i + 1 < len(points) else end
        if power < IDLE_POWER_W:
            total += max(0.0, (until - moment).total_seconds())
    return int(total)
