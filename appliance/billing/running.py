"""A running session's energy and time per tariff band so far, kept on its row (`band_run`), so
that the running-out watchdog and live prices of a banded tariff do the same work at a
session's 10,000th sample as at its 10th (issue 24): before, each MeterValues read every sample
of the session to interpolate its energy at the band boundaries.

Exactly the full computation (`settlement._curve` + `pricing.band_lines`), not an estimate: the
energy at a band boundary is interpolated between the two samples around it, so it is fixed for
good once a sample after the boundary came, and is kept with the energy and seconds per band of
the pieces before it; a live price then only prices the pieces after the last sample. Whatever
the running figure cannot follow exactly (a sample older than the last one, another register
base, a sample above the session's energy) makes it rebuilt from every sample once, or given
up for the session (`{"off": 1}`: priced from every sample as before). The bill at the stop is
always priced from every sample. Tariffs without bands keep no figure: their price needs none.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from appliance.billing import bands
from appliance.billing.pricing import BandPrefix
from appliance.charging.curves import EnergyCurve
from appliance.db.models import ChargingSession, MeterReading

OFF = {"off": 1}
_TICK = timedelta(microseconds=1)


def curve_base(session: ChargingSession) -> float | None:
    """The register value a session's energy curve counts from (as `settlement._curve`)."""
    base = session.meter_start if session.meter_start not in (None, 0) \
        else session.first_register_wh
    return None if base is None else base


def _key(session: ChargingSession) -> int:
    return zlib.crc32(session.tariff_snapshot.encode())


def _whole(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def initial(session: ChargingSession) -> dict[str, Any]:
    start = session.started_at
    return {"k": _key(session), "base": curve_base(session), "t": start.isoformat(),
            "v": None, "d": 0.0, "b": _whole(start).isoformat(), "m": 0, "wh": {}, "s": {}}


def advance(state: dict[str, Any], session: ChargingSession, snapshot: dict[str, Any],
            readings: Iterable[tuple[datetime, float]]) -> dict[str, Any] | None:
    """The figure moved on by newer samples ((time, register Wh) as stored); None when they
    cannot be added on (one older than the last: rebuild from every sample); OFF when the
    figure cannot follow the session exactly."""
    if state.get("off"):
        return state
    base = state["base"]
    if base is None:
        return state  # the curve uses no sample until the session has a register base
    started = session.started_at
    t_last = datetime.fromisoformat(state["t"])
    v_last, d_last = state["v"], float(state["d"])
    edge, mark = datetime.fromisoformat(state["b"]), int(state["m"])
    wh = {int(k): v for k, v in state["wh"].items()}
    secs = {int(k): v for k, v in state["s"].items()}
    total = float(session.energy_wh)
    for moment, value in sorted(readings):
        if not started < moment:
            continue
        if v_last is not None and moment <= t_last:
            if moment == t_last and value >= v_last:
                continue  # the full curve keeps the first of equal times (the smaller)
            return None
        d = max(value - base, d_last)
        if d > total:
            return dict(OFF)  # clipped to the session's energy, which later samples move
        cut = bands.pieces(snapshot, edge, moment + _TICK)
        for lo, hi, band in cut[:-1]:
            if hi == moment:
                raw = d
            else:
                span = (moment - t_last).total_seconds()
                raw = d_last if span <= 0 else \
                    d_last + (d - d_last) * (hi - t_last).total_seconds() / span
            at_hi = max(0, round(raw))
            wh[band] = wh.get(band, 0) + at_hi - mark
            secs[band] = secs.get(band, 0) + int((hi - lo).total_seconds())
            edge, mark = hi, at_hi
        t_last, v_last, d_last = moment, value, d
    return {"k": state["k"], "base": base, "t": t_last.isoformat(), "v": v_last, "d": d_last,
            "b": edge.isoformat(), "m": mark, "wh": wh, "s": secs}


def all_readings(session_id: int) -> list[tuple[datetime, float]]:
    return list(MeterReading.select(MeterReading.timestamp, MeterReading.energy_wh)
                .where((MeterReading.session == session_id)
                       & MeterReading.energy_wh.is_null(False)).tuples())


def rebuild(session: ChargingSession, snapshot: dict[str, Any]) -> dict[str, Any]:
    """The figure from every sample of the session (its first MeterValues after an upgrade,
    or after a sample older than the last)."""
    return advance(initial(session), session, snapshot, all_readings(session.id)) or dict(OFF)


def load(session: ChargingSession) -> dict[str, Any] | None:
    text = session.band_run
    return json.loads(text) if text else None


def follow(items: Sequence[tuple[ChargingSession, dict[str, Any],
                                 list[tuple[datetime, float]]]]) -> None:
    """On the writer, after a batch's samples are stored: move each banded session's figure on
    by its new samples and save it (one UPDATE per session; banded tariffs only)."""
    for session, snapshot, readings in items:
        state = load(session)
        if state is not None and not state.get("off") and (
                state["k"] != _key(session) or state["base"] != curve_base(session)):
            state = None  # another tariff snapshot or register base: start again
        moved = advance(state, session, snapshot, readings) if state is not None else None
        if moved is None:
            moved = rebuild(session, snapshot)
        text = json.dumps(moved, separators=(",", ":"))
        if text != session.band_run:
            session.band_run = text
            (ChargingSession.update(band_run=text)
             .where(ChargingSession.id == session.id).execute())


def prefix(session: ChargingSession, now: datetime, end: datetime
           ) -> tuple[BandPrefix, EnergyCurve] | None:
    """What a live price at `now` (its pieces up to `end`) can take from the figure: the
    pieces before its last fixed boundary, and the curve after its last sample; None when the
    figure does not hold for this moment (then the price reads every sample)."""
    state = load(session)
    if state is None or state.get("off") or state["k"] != _key(session) \
            or state["base"] != curve_base(session) or session.stopped_at is not None:
        return None
    t_last, edge = datetime.fromisoformat(state["t"]), datetime.fromisoformat(state["b"])
    d_last, total = float(state["d"]), float(session.energy_wh)
    if not t_last < now or d_last > total or not edge < _whole(end):
        return None
    started = session.started_at
    curve = EnergyCurve([started, t_last, now], [0.0, d_last, total]) if t_last > started \
        else EnergyCurve([started, now], [0.0, total])
    return BandPrefix(edge, int(state["m"]), {int(k): v for k, v in state["wh"].items()},
                      {int(k): v for k, v in state["s"].items()}), curve
