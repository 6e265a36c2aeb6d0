"""Retention of raw meter samples: a finished session keeps its totals and a downsampled energy
curve (`SessionCurve`), then its samples older than the retention are deleted. Curves are built
on the read pool and written with the deletes in small writer jobs, so charging never waits."""

from __future__ import annotations

import json
from datetime import datetime

from appliance.db.database import Database
from appliance.db.models import ChargingSession, MeterReading
from appliance.db.models_reports import SessionCurve
from appliance.reports.daily import EnergyCurve, session_curve

CURVE_POINTS = 100
BATCH = 200  # sessions per writer job: a few thousand rows, a few milliseconds of the writer


def downsample(curve: EnergyCurve, started: datetime, points: int = CURVE_POINTS
               ) -> list[list[float]]:
    """At most `points` of the curve's own points, evenly by index, first and last kept:
    `[[seconds since start, Wh], ...]`."""
    n = len(curve.times)
    picks = range(n) if n <= points else sorted({round(i * (n - 1) / (points - 1))
                                                 for i in range(points)})
    return [[round((curve.times[i] - started).total_seconds(), 1), round(curve.wh[i], 1)]
            for i in picks]


def sessions_to_prune(cutoff: datetime) -> list[int]:
    """Sessions stopped before the cutoff that still have raw samples before it (a session
    running across the cutoff keeps its samples until it is pruned whole)."""
    with_samples = (MeterReading.select(MeterReading.session).distinct()
                    .where((MeterReading.timestamp < cutoff) & MeterReading.session.is_null(False)))
    return [s for (s,) in ChargingSession.select(ChargingSession.id).where(
        ChargingSession.id.in_(with_samples) & (ChargingSession.stopped_at < cutoff))
        .order_by(ChargingSession.id).tuples()]


def build_curves(session_ids: list[int]) -> dict[int, str]:
    """Downsampled curves, as JSON, of the sessions that have none stored yet."""
    done = {s for (s,) in SessionCurve.select(SessionCurve.session)
            .where(SessionCurve.session.in_(session_ids)).tuples()}
    todo = [s for s in session_ids if s not in done]
    readings: dict[int, list[tuple[datetime, float]]] = {s: [] for s in todo}
    for sid, moment, value in (
            MeterReading.select(MeterReading.session, MeterReading.timestamp,
                                MeterReading.energy_wh)
            .where(MeterReading.session.in_(todo) & MeterReading.energy_wh.is_null(False))
            .tuples()):
        readings[sid].append((moment, value))
    out = {}
    for s in ChargingSession.select().where(ChargingSession.id.in_(todo)):
        base = s.meter_start if s.meter_start not in (None, 0) else s.first_register_wh
        curve = session_curve(s.started_at, s.stopped_at, s.energy_wh, readings[s.id], base)
        out[s.id] = json.dumps(downsample(curve, s.started_at))
    return out


def write_and_delete(curves: dict[int, str], session_ids: list[int], cutoff: datetime) -> int:
    """For the writer: store the curves, then delete the sessions' samples before the cutoff."""
    if curves:
        (SessionCurve.insert_many([{"session": s, "points": p} for s, p in curves.items()])
         .on_conflict_ignore().execute())
    return int(MeterReading.delete().where(MeterReading.session.in_(session_ids)
                                          & (MeterReading.timestamp < cutoff)).execute())


def delete_loose(cutoff: datetime, limit: int = 5000) -> int:
    """Samples that belong to no session (outside any transaction), a chunk at a time."""
    ids = (MeterReading.select(MeterReading.id).where(MeterReading.session.is_null()
                                                    & (MeterReading.timestamp < cutoff))
           .limit(limit))
    return int(MeterReading.delete().where(MeterReading.id.in_(ids)).execute())


async def prune_samples(database: Database, cutoff: datetime) -> int:
    """Prune every raw sample older than `cutoff` that may go; returns how many went."""
    sessions = await database.read(sessions_to_prune, cutoff)
    deleted = 0
    for i in range(0, len(sessions), BATCH):
        batch = sessions[i:i + BATCH]
        curves = await database.read(build_curves, batch)
        deleted += await database.run(write_and_delete, curves, batch, cutoff)
    while True:
        gone = await database.run(delete_loose, cutoff)
        deleted += gone
        if gone == 0:
            return deleted


def session_points(session_id: int) -> list[tuple[float, float]]:
    """A pruned session's stored curve (seconds since start, Wh), for its page."""
    row = SessionCurve.get_or_none(SessionCurve.session == session_id)
    return [(t, wh) for t, wh in json.loads(row.points)] if row else []
