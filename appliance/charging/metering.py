"""Pure meter-value handling: OCPP sampled values in, normalised samples and readings out.

Defaults when a field is absent follow OCPP 1.6: unit Wh, measurand Energy.Active.Import.Register,
context Sample.Periodic. Energy is normalised to Wh, power to W. A station's reading of a
register prefers the phase-less or Outlet value; else it sums L1..L3, never mixing
phase-to-neutral values and totals. Signed values are kept byte for byte and never read as
numbers."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER_IMPORT = "Power.Active.Import"
DEFAULT_CONTEXT = "Sample.Periodic"

_SCALE = {
    "Wh": 1.0, "kWh": 1000.0, "varh": 1.0, "kvarh": 1000.0,
    "W": 1.0, "kW": 1000.0, "VA": 1.0, "kVA": 1000.0, "var": 1.0, "kvar": 1000.0,
}
_PHASE_TOTAL = {"L1", "L2", "L3"}
# No meter register or power of a charger comes near this (a terawatt-hour, a terawatt): a
# value beyond it is implausible, kept as sent but never read as a number, so it can neither
# overflow a 64-bit column nor reach a bill.
VALUE_LIMIT = 1e12


# Samples and moments are named tuples, not frozen dataclasses: every MeterValues makes a few on
# the event loop, and a frozen dataclass's __init__ (a setattr per field) took three times as long.
class Sample(NamedTuple):
    timestamp: datetime | None
    measurand: str
    phase: str
    location: str
    context: str
    unit: str
    raw_value: str
    value: float | None  # normalised (Wh, W), None when unreadable, implausible or signed
    signed: bool
    implausible: bool = False  # a number, but beyond VALUE_LIMIT


def parse_time(raw: Any) -> datetime | None:
    """An RFC 3339 timestamp as naive UTC, or None when it is not one."""
    if not isinstance(raw, str) or not raw:
        return None
    if len(raw) in (20, 24) and raw[-1] == "Z" and raw[10] == "T":
        # What chargers send (`2026-01-02T03:04:05Z`, with `.678` or not): read without the Z
        # it is the same moment, naive UTC already (a third of the time; every MeterValues).
        try:
            moment = datetime.fromisoformat(raw[:-1])
        except ValueError:
            return None  # as the general form below
        if moment.tzinfo is None:
            return moment
    try:
        moment = datetime.fromisoformat(raw.strip().replace("z", "Z"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # OCPP demands UTC; offset-less is taken so
        return moment.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):  # year 9999 at -01:00 is past what datetime holds
        return None


def default_unit(measurand: str) -> str:
    if measurand.startswith("Energy.Reactive"):
        return "varh"
    if measurand.startswith("Energy"):
        return "Wh"
    if measurand.startswith("Power.Reactive"):
        return "var"
    if measurand.startswith("Power") and measurand != "Power.Factor":
        return "W"
    return ""


def _number(raw: str, scale: float) -> float | None:
    try:
        value = float(raw) * scale
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value):
        return None
    # Far below a milliwatt-hour is zero: a subnormal float such as 1e-320 is refused by
    # PostgreSQL ("underflow") and would fail the whole report.
    return value if abs(value) >= 1e-9 else 0.0


_tuple_new = tuple.__new__  # a named tuple made from its fields in order, without __new__'s call


def _text(value: Any, default: str) -> str:
    return default if not value else value if type(value) is str else str(value)


def parse_sampled_value(timestamp: datetime | None, sv: Mapping[str, Any]) -> Sample:
    get = sv.get
    measurand = _text(get("measurand"), ENERGY_REGISTER)
    unit = get("unit")
    unit = str(unit) if unit else default_unit(measurand)
    signed = get("format") == "SignedData"
    raw = get("value")
    raw_text = raw if isinstance(raw, str) else ("" if raw is None else str(raw))
    value = None if signed else _number(raw_text, _SCALE.get(unit, 1.0))
    implausible = value is not None and abs(value) > VALUE_LIMIT
    return _tuple_new(Sample, (
        timestamp,  # timestamp
        measurand,  # measurand
        _text(get("phase"), ""),  # phase
        _text(get("location"), ""),  # location
        _text(get("context"), DEFAULT_CONTEXT),  # context
        unit,  # unit
        raw_text,  # raw_value
        None if implausible else value,  # value
        signed,  # signed
        implausible,  # implausible
    ))


class Moment(NamedTuple):
    """One entry of a meterValue list: its time, its sampled values as sent (mappings only) and
    parsed."""

    timestamp: datetime | None
    sampled: list[Mapping[str, Any]]
    samples: list[Sample]
    # What its meter_reading row stores, worked out with the parse: the event loop parses a
    # MeterValues before handing it to the database writer, which every report waits on.
    energy_wh: float | None = None
    power_w: float | None = None
    sampled_json: str = "[]"

    @property
    def context(self) -> str:
        return self.samples[0].context if self.samples else DEFAULT_CONTEXT


def parse_moments(meter_values: Any) -> list[Moment]:
    """The moments of a MeterValues or transactionData list; junk entries are skipped."""
    moments: list[Moment] = []
    if not isinstance(meter_values, list):
        return moments
    for mv in meter_values:
        # (`type(...) is dict` first: a parsed frame's objects are dicts, and an isinstance of
        # an abstract class costs several times more)
        if type(mv) is not dict and not isinstance(mv, Mapping):
            continue
        moment = parse_time(mv.get("timestamp"))
        sampled = [sv for sv in mv.get("sampledValue") or []
                   if type(sv) is dict or isinstance(sv, Mapping)]
        samples = [parse_sampled_value(moment, sv) for sv in sampled]
        moments.append(_tuple_new(Moment, (moment, sampled, samples,
                                           reading(samples, ENERGY_REGISTER),
                                           reading(samples, POWER_IMPORT),
                                           compact_json(sampled))))
    return moments


def compact_json(value: Any) -> str:
    """Compact JSON (UTF-8 as is) of what a frame held: orjson writes it several times faster
    than the stdlib (this runs on the event loop for every MeterValues); the stdlib takes what
    orjson refuses (integers past 64 bits). No frame carries a NaN (it is not JSON)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def parse_meter_values(meter_values: Any) -> list[Sample]:
    """Every sampled value of a MeterValues or transactionData list; junk entries are skipped."""
    return [s for m in parse_moments(meter_values) for s in m.samples]


def reading(samples: Iterable[Sample], measurand: str) -> float | None:
    """One value of a measurand from the samples of one moment, by DESIGN's phase rule."""
    whole: float | None = None
    phases: dict[str, float] = {}
    for s in samples:
        if s.measurand != measurand or s.value is None:
            continue
        if not s.phase:
            if whole is None or s.location == "Outlet":
                whole = s.value
        elif s.phase in _PHASE_TOTAL:
            phases[s.phase] = s.value
    if whole is not None:
        return whole
    if phases:
        return sum(phases.values())
    return None


def readings_by_time(samples: list[Sample], measurand: str) -> list[tuple[datetime | None, float]]:
    """(timestamp, reading) for each distinct moment that carries the measurand, in order."""
    moments: dict[datetime | None, list[Sample]] = {}
    for s in samples:
        moments.setdefault(s.timestamp, []).append(s)
    out = []
    for moment, group in moments.items():
        value = reading(group, measurand)
        if value is not None:
            out.append((moment, value))
    return out
