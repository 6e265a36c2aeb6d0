"""Meter values: units, defaults, phases, signed data; any input parses without raising."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.charging import metering
from appliance.charging.sessions import session_energy

T = "2026-11-25T10:00:00Z"


def sv(value: str, **kw: Any) -> dict[str, Any]:
    return {"value": value, **kw}


def test_defaults_and_units() -> None:
    samples = metering.parse_meter_values([{"timestamp": T, "sampledValue": [
        sv("1234"), sv("1.5", unit="kWh", measurand="Energy.Active.Import.Register"),
        sv("7.4", unit="kW", measurand="Power.Active.Import"), sv("230", measurand="Voltage",
                                                                   unit="V")]}])
    assert [(s.measurand, s.unit, s.value, s.context) for s in samples] == [
        ("Energy.Active.Import.Register", "Wh", 1234.0, "Sample.Periodic"),
        ("Energy.Active.Import.Register", "kWh", 1500.0, "Sample.Periodic"),
        ("Power.Active.Import", "kW", 7400.0, "Sample.Periodic"),
        ("Voltage", "V", 230.0, "Sample.Periodic")]


def test_phase_rule() -> None:
    def read(*values: dict[str, Any]) -> float | None:
        samples = metering.parse_meter_values([{"timestamp": T, "sampledValue": list(values)}])
        return metering.reading(samples, metering.POWER_IMPORT)

    p = {"measurand": "Power.Active.Import"}
    assert read(sv("100", phase="L1", **p), sv("200", phase="L2", **p),
                sv("300", phase="L3", **p)) == 600
    assert read(sv("100", phase="L1-N", **p), sv("250", phase="L2-N", **p)) is None
    assert read(sv("600", **p), sv("100", phase="L1", **p)) == 600  # the total wins
    assert read(sv("5", location="Inlet", **p), sv("6", location="Outlet", **p)) == 6


def test_signed_values_are_kept_not_read() -> None:
    [s] = metering.parse_meter_values([{"timestamp": T, "sampledValue": [
        sv("AP;0;3;ALCV3ABBBISHMA2RYEGAZE3H", format="SignedData")]}])
    assert s.signed and s.value is None and s.raw_value.startswith("AP;0;3")


def test_times() -> None:
    assert metering.parse_time("2026-11-25T10:00:00+05:30").hour == 4
    assert metering.parse_time("2026-11-25T10:00:00.123Z").microsecond == 123000
    assert metering.parse_time("yesterday") is None and metering.parse_time(5) is None


def test_session_energy_rules() -> None:
    assert session_energy(1000, 1500, None, None, 3600, 22000) == (500, [])
    # Going backwards, or a whole odometer after an offline start with meterStart 0: samples.
    assert session_energy(5000, 4000, 5000, 5600, 3600, 22000) == (600, ["energy_from_samples"])
    assert session_energy(0, 9_000_000, 8_990_000, 8_999_000, 3600, 22000) == (
        10_000, ["energy_from_samples"])
    assert session_energy(None, None, None, None, 60, 22000) == (0, ["energy_unknown"])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.fixed_dictionaries(
    {"timestamp": json_values, "sampledValue": st.lists(st.dictionaries(
        st.sampled_from(["value", "unit", "measurand", "phase", "format", "location",
                         "context"]), json_values), max_size=4)}), max_size=3) | json_values)
def test_any_input_parses(meter_values: Any) -> None:
    samples = metering.parse_meter_values(meter_values)
    for s in samples:
        assert s.value is None or isinstance(s.value, float)
    metering.reading(samples, metering.ENERGY_REGISTER)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.integers(-10**9, 10**9)), st.one_of(st.none(),
       st.integers(-10**9, 10**9)), st.one_of(st.none(), st.integers(0, 10**9)),
       st.one_of(st.none(), st.integers(0, 10**9)), st.floats(0, 10**6))
def test_energy_is_never_negative_nor_implausible(a: Any, b: Any, c: Any, d: Any,
                                                  secs: float) -> None:
    wh, _ = session_energy(a, b, c, d, secs, 22000)
    assert 0 <= wh <= 22000 * max(secs, 60) / 3600 + 1000
