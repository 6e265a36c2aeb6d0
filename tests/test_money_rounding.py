"""The one rounding rule at its boundaries: half up at .5 of a minor unit, JPY with 0 decimals,
KWD with 3; the lines of a receipt add up to the charge."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.billing.pricing import (
    Facts,
    growth,
    minor_exponent,
    parse_price,
    price,
    round_half_up,
)
from appliance.errors import InvalidInput

T0 = datetime(2026, 1, 1, 10, 0, 0)


def tariff(currency: str = "INR", **fields: object) -> dict[str, object]:
    return {"currency": currency, "prices_include_tax": True, **fields}


def test_exponents_from_iso_4217() -> None:
    assert (minor_exponent("INR"), minor_exponent("JPY"), minor_exponent("KWD")) == (2, 0, 3)


@pytest.mark.parametrize(("value", "expected"), [
    ("0.4999", 0), ("0.5", 1), ("1.5", 2), ("2.5", 3), ("2.4999999", 2), ("-0.5", -1)])
def test_half_up(value: str, expected: int) -> None:
    assert round_half_up(Decimal(value)) == expected


@pytest.mark.parametrize(("currency", "per_kwh", "wh", "minor"), [
    ("INR", "0.01", 500, 1),     # 0.005 rupee = 0.5 paise -> 1 paisa
    ("INR", "0.01", 499, 0),     # 0.499 paise -> 0
    ("INR", "12.3456", 1000, 1235),  # 1234.56 paise -> 1235
    ("JPY", "25", 20, 1),        # 0.5 yen -> 1 yen
    ("JPY", "25", 19, 0),        # 0.475 yen -> 0
    ("KWD", "0.0105", 100, 1),   # 1.05 fils -> 1
    ("KWD", "0.005", 100, 1),    # 0.5 fils -> 1
    ("KWD", "0.0049", 100, 0),   # 0.49 fils -> 0
])
def test_energy_component_boundaries(currency: str, per_kwh: str, wh: int, minor: int) -> None:
    cost = price(tariff(currency, energy_per_kwh=per_kwh), Facts(wh, T0, T0))
    assert cost.energy == minor == cost.fee


def test_time_idle_session_fee_and_tax() -> None:
    snap = tariff(energy_per_kwh="10", time_per_hour="1.8", session_fee="5",
                  session_fee_min_wh=200, idle_per_hour="60", idle_grace_min=10,
                  tax_rate="0.18")
    end = T0 + timedelta(seconds=5)  # 1.8 / 3600 x 5 = 0.0025 rupee = 0.25 paise -> 0
    assert price(snap, Facts(199, T0, end)).session == 0  # a failed plug-in costs nothing
    cost = price(snap, Facts(1000, T0, T0 + timedelta(minutes=30), idle_s=15 * 60))
    assert (cost.energy, cost.time, cost.session, cost.idle) == (1000, 90, 500, 500)
    assert cost.fee == 2090 and cost.tax == round_half_up(Decimal(2090) * Decimal("0.18")
                                                          / Decimal("1.18"))
    excl = price({**snap, "prices_include_tax": False}, Facts(1000, T0, T0))
    assert excl.tax_added == excl.tax == 270 and excl.fee == 1500 + 270


def test_prices_take_at_most_four_decimals() -> None:
    assert parse_price("12.3450", "p") == Decimal("12.345")
    for bad in ("1.23456", "-1", "abc", "NaN", True):
        with pytest.raises(InvalidInput):
            parse_price(bad, "p")


@settings(max_examples=200, deadline=None)
@given(currency=st.sampled_from(["INR", "JPY", "KWD", "USD"]),
       prices=st.lists(st.decimals(min_value=0, max_value=100, places=4), min_size=4,
                       max_size=4),
       wh=st.integers(0, 200_000), seconds=st.integers(0, 86_400), idle=st.integers(0, 86_400),
       rate=st.sampled_from(["0", "0.05", "0.18", "0.2"]), included=st.booleans())
def test_receipt_lines_add_up(currency: str, prices: list[Decimal], wh: int, seconds: int,
                              idle: int, rate: str, included: bool) -> None:
    snap = {"currency": currency, "energy_per_kwh": str(prices[0]),
            "time_per_hour": str(prices[1]), "session_fee": str(prices[2]),
            "idle_per_hour": str(prices[3]), "tax_rate": rate, "prices_include_tax": included}
    cost = price(snap, Facts(wh, T0, T0 + timedelta(seconds=seconds), idle))
    assert cost.fee == cost.energy + cost.time + cost.session + cost.idle + cost.tax_added
    assert 0 <= cost.tax <= cost.fee


PRICES = st.sampled_from(["0", "0.01", "1.5", "12.3456", "20", "40", "99.9999"])


@settings(max_examples=400, deadline=None)
@given(currency=st.sampled_from(["INR", "JPY", "KWD"]), per_kwh=PRICES, per_hour=PRICES,
       session_fee=st.sampled_from(["0", "5", "0.49"]), min_wh=st.sampled_from([0, 200]),
       tax=st.sampled_from(["0", "0.18", "0.05"]), include=st.booleans(),
       wh=st.integers(0, 200_000), more_wh=st.integers(-500, 50_000),
       start_us=st.integers(0, 999_999), first_ms=st.integers(0, 10_000_000),
       more_ms=st.integers(-5_000, 3_600_000))
def test_growth_bounds_every_later_fee(currency: str, per_kwh: str, per_hour: str,
                                       session_fee: str, min_wh: int, tax: str, include: bool,
                                       wh: int, more_wh: int, start_us: int, first_ms: int,
                                       more_ms: int) -> None:
    """The watchdog skips pricing a session while this bound stays below what its account may
    spend: the bound must never be below the exact fee, rounding and whole seconds included
    (and a report that went back in energy or time is bounded too)."""
    snap = tariff(currency, energy_per_kwh=per_kwh, time_per_hour=per_hour,
                  session_fee=session_fee, session_fee_min_wh=min_wh, tax_rate=tax,
                  prices_include_tax=include)
    grow = growth(snap)
    assert grow is not None
    start = T0 + timedelta(microseconds=start_us)
    first = start + timedelta(milliseconds=first_ms)
    later = first + timedelta(milliseconds=more_ms)
    later_wh = max(0, wh + more_wh)
    fee = price(snap, Facts(wh, start, first)).fee
    exact = price(snap, Facts(later_wh, start, max(start, later))).fee
    assert exact <= grow.bound(fee, wh, later_wh, (later - first).total_seconds())


def test_no_growth_bound_with_bands_or_idle_fees() -> None:
    """Band prices move energy between bands as a session goes on, and a late status can add
    idle time in the past: those tariffs are priced exactly every time."""
    assert growth(tariff(energy_per_kwh="10", idle_per_hour="60")) is None
    assert growth(tariff(energy_per_kwh="10", bands=[
        {"name": "Peak", "energy_per_kwh": "30", "days": [0, 1, 2, 3, 4, 5, 6],
         "start": "18:00", "end": "22:00"}])) is None
    assert growth(tariff(energy_per_kwh="10")) is not None
