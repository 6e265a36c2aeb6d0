"""Time-of-day and day-type bands (issue 21): a session is priced per band from its meter
samples, in the site's time zone across midnight and DST; the receipt's lines add up by the
README's rounding rule, and cutting a session in two never moves a component by more than one
minor unit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.billing import bands
from appliance.billing.pricing import Facts, band_prices, price, round_half_up
from appliance.charging.curves import session_curve

OFF_PEAK = {"name": "off-peak", "days": "all", "start": "22:00", "end": "06:00",
            "energy_per_kwh": "8", "time_per_hour": "0"}


def tariff(tz: str, *band_list: dict[str, Any], holidays: tuple[str, ...] = (),
           **fields: Any) -> dict[str, Any]:
    return {"currency": "INR", "prices_include_tax": True, "energy_per_kwh": "12",
            "time_per_hour": "0", "tax_rate": "0.18", "bands": list(band_list), "timezone": tz,
            "holidays": list(holidays), **fields}


def utc(local: str, tz: str) -> datetime:
    moment = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(tz))
    return moment.astimezone(UTC).replace(tzinfo=None)


def test_evening_session_across_22_is_priced_in_two_bands() -> None:
    snap = tariff("Asia/Kolkata", OFF_PEAK)
    start, end = utc("2026-12-07T21:00", "Asia/Kolkata"), utc("2026-12-07T23:00",
                                                               "Asia/Kolkata")
    cost = price(snap, Facts(10_000, start, end))  # evenly: 5 kWh before 22:00, 5 after
    assert [(line.name, line.energy_wh, line.energy) for line in cost.lines] == [
        ("", 5_000, 6_000), ("off-peak", 5_000, 4_000)]
    assert cost.energy == cost.fee == 10_000


def test_samples_decide_the_split_not_the_clock() -> None:
    snap = tariff("Asia/Kolkata", OFF_PEAK)
    start = utc("2026-12-07T21:00", "Asia/Kolkata")
    end = start + timedelta(hours=2)
    # 9 kWh in the first hour, 1 kWh after 22:00 (the car was nearly full).
    curve = session_curve(start, end, 10_000, [(start + timedelta(hours=1), 10_900.0)], 1_900)
    cost = price(snap, Facts(10_000, start, end, energy_at=curve.at))
    assert [(line.energy_wh, line.energy) for line in cost.lines] == [(9_000, 10_800),
                                                                       (1_000, 800)]


def test_weekend_and_holiday_bands() -> None:
    weekend = {"name": "weekend", "days": "weekend", "start": "00:00", "end": "00:00",
               "energy_per_kwh": "9"}
    snap = tariff("Asia/Kolkata", weekend, holidays=("2026-12-25",))
    for day, expected in (("2026-12-05", 900), ("2026-12-07", 1_200),
                          ("2026-12-25", 900)):  # a Saturday, a Monday, a holiday Friday
        start = utc(f"{day}T10:00", "Asia/Kolkata")
        assert price(snap, Facts(1_000, start, start + timedelta(hours=1))).energy == expected


def test_dst_nights_are_as_long_as_they_are() -> None:
    """Berlin's 02:00-03:00 band lasts two hours on the night clocks go back, none on the night
    they go forward; time is priced per second of each."""
    night = {"name": "night", "days": "all", "start": "02:00", "end": "03:00",
             "energy_per_kwh": "0", "time_per_hour": "60"}
    snap = tariff("Europe/Berlin", night)
    back = price(snap, Facts(0, utc("2026-10-25T00:00", "Europe/Berlin"),
                             utc("2026-10-25T06:00", "Europe/Berlin")))
    assert {line.name: line.seconds for line in back.lines} == {"": 5 * 3600,
                                                                "night": 2 * 3600}
    forward = price(snap, Facts(0, utc("2026-03-29T00:00", "Europe/Berlin"),
                                utc("2026-03-29T06:00", "Europe/Berlin")))
    assert {line.name: line.seconds for line in forward.lines} == {"": 5 * 3600}


# --- the property ---------------------------------------------------------------------------
ZONES = ("Asia/Kolkata", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe")
DST_DAYS = (datetime(2026, 3, 8), datetime(2026, 3, 29), datetime(2026, 4, 5),
            datetime(2026, 10, 4), datetime(2026, 10, 25), datetime(2026, 11, 1),
            datetime(2026, 12, 31))
quarter = st.integers(0, 95).map(lambda q: f"{q // 4:02d}:{q % 4 * 15:02d}")
price_text = st.decimals(0, 40, places=4).map(str)
band = st.fixed_dictionaries({
    "name": st.sampled_from(["a", "b", "c"]), "days": st.sampled_from(bands.DAY_KINDS),
    "start": quarter, "end": quarter, "energy_per_kwh": price_text, "time_per_hour": price_text})


@st.composite
def sessions(draw: st.DrawFn) -> tuple[dict[str, Any], datetime, datetime, list[Any], int]:
    tz = draw(st.sampled_from(ZONES))
    snap = tariff(tz, *draw(st.lists(band, min_size=0, max_size=3)),
                  holidays=tuple(draw(st.sets(st.sampled_from(
                      ["2026-03-08", "2026-10-25", "2026-12-31", "2027-01-01"]), max_size=2))),
                  energy_per_kwh=draw(price_text), time_per_hour=draw(price_text),
                  prices_include_tax=draw(st.booleans()))
    start = draw(st.sampled_from(DST_DAYS)) + timedelta(
        seconds=draw(st.integers(-30 * 3600, 30 * 3600)))
    end = start + timedelta(seconds=draw(st.integers(1, 40 * 3600)))
    span = int((end - start).total_seconds())
    offsets = sorted(draw(st.sets(st.integers(1, max(1, span - 1)), max_size=12)))
    readings, wh = [], 50_000.0
    for offset in offsets:
        wh += draw(st.floats(0, 30_000, allow_nan=False))
        readings.append((start + timedelta(seconds=offset), wh))
    total = int(wh - 50_000) + draw(st.integers(0, 5_000))
    return snap, start, end, readings, total


def _exact(per: Decimal, quantity: int, unit: int) -> int:
    return round_half_up(per * quantity / unit * 100)


@settings(max_examples=300, deadline=None)
@given(sessions(), st.data())
def test_bands_property(case: tuple[dict[str, Any], datetime, datetime, list[Any], int],
                        data: st.DataObject) -> None:
    snap, start, end, readings, total = case
    live_curve = session_curve(start, end, total, readings, 50_000.0)  # "now" = the end
    final_curve = session_curve(start, end, total, readings, 50_000.0)
    live = price(snap, Facts(total, start, end, energy_at=live_curve.at))
    final = price(snap, Facts(total, start, end, energy_at=final_curve.at))
    assert live == final
    # The receipt's lines add up: every Wh and second in exactly one band, each band's
    # amounts rounded once, the fee the sum of the rounded components.
    assert sum(line.energy_wh for line in final.lines) == total
    assert sum(line.seconds for line in final.lines) == int((end - start).total_seconds())
    for line in final.lines:
        _, per_kwh, per_hour = band_prices(snap, line.band)
        assert line.energy == _exact(per_kwh, line.energy_wh, 1000)
        assert line.time == _exact(per_hour, line.seconds, 3600)
    assert final.energy == sum(line.energy for line in final.lines)
    assert final.fee == final.energy + final.time + final.session + final.idle + final.tax_added
    # Each piece is wholly in the band it is priced at, DST nights included.
    cal = bands.calendar_of(snap)
    for lo, hi, index in bands.pieces(snap, start, end):
        for moment in (lo, lo + (hi - lo) / 2, hi - timedelta(microseconds=1)):
            assert cal.band_at(moment) == index
    # Cut at any whole second, the meter read there in whole Wh: each component of the two
    # halves adds up to the whole within one minor unit.
    cut = start + timedelta(seconds=data.draw(st.integers(
        1, max(1, int((end - start).total_seconds()) - 1))))
    if not start < cut < end:
        return
    at_cut = round(final_curve.at(cut))
    first = price(snap, Facts(at_cut, start, cut, energy_at=final_curve.at))
    second = price(snap, Facts(total - at_cut, cut, end,
                               energy_at=lambda m: final_curve.at(m) - at_cut))
    whole = {line.band: line for line in final.lines}
    halves: dict[int, list[int]] = {}
    for line in first.lines + second.lines:
        got = halves.setdefault(line.band, [0, 0, 0, 0])
        for i, value in enumerate((line.energy_wh, line.seconds, line.energy, line.time)):
            got[i] += value
    assert set(halves) == set(whole)
    for index, (wh, seconds, energy, time_fee) in halves.items():
        assert (wh, seconds) == (whole[index].energy_wh, whole[index].seconds)
        assert abs(energy - whole[index].energy) <= 1
        assert abs(time_fee - whole[index].time) <= 1
