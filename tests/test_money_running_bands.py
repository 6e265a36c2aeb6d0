"""A banded tariff's running figure (billing.running, issue 24): after any run of samples (in
order, repeated, late, backwards, on band edges and DST nights), the live price from the figure
kept on the session row equals the price from every sample, to the minor unit and per band.

Against the test backend's real database (SQLite file or PostgreSQL), through the writer's own
MeterValues path."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.app import open_database
from appliance.billing import authorize as auth
from appliance.billing import running, settlement
from appliance.charging import sessions
from appliance.charging.admin import create_station
from appliance.db.models import ChargingSession, Station
from tests.test_money_bands import DST_DAYS, ZONES, band, price_text, tariff

NUMBERS = itertools.count(1)


def _ocpp_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@st.composite
def runs(draw: st.DrawFn) -> tuple[dict[str, Any], datetime, int, list[Any]]:
    tz = draw(st.sampled_from(ZONES))
    snap = tariff(tz, *draw(st.lists(band, min_size=1, max_size=3)),
                  holidays=tuple(draw(st.sets(st.sampled_from(
                      ["2026-03-08", "2026-10-25", "2026-12-31"]), max_size=1))),
                  energy_per_kwh=draw(price_text), time_per_hour=draw(price_text))
    start = draw(st.sampled_from(DST_DAYS)) + timedelta(
        seconds=draw(st.integers(-20 * 3600, 20 * 3600)), milliseconds=draw(st.integers(0, 999)))
    meter_start = draw(st.sampled_from([0, 1000, 123_456]))
    steps = draw(st.lists(st.tuples(
        st.sampled_from(["later", "later", "later", "same", "older"]),
        st.integers(1, 3 * 3600),  # seconds
        st.floats(-200, 9000, allow_nan=False),  # Wh more (now and then backwards)
        st.booleans(),  # in kWh with decimals
        st.integers(1, 900)), min_size=3, max_size=25))
    return snap, start, meter_start, steps


def test_running_figure_prices_as_every_sample(make_settings: Any) -> None:
    database = open_database(make_settings())

    @settings(max_examples=40, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(runs(), st.data())
    def check(run: Any, data: st.DataObject) -> None:
        database.run_sync(_one_run, database, run, data)

    check()
    database.db.close()


def _one_run(database: Any, run: Any, data: st.DataObject) -> None:
    snap, start, meter_start, steps = run
    cpid = f"RUN-{next(NUMBERS)}"
    create_station(cpid, {})
    station_id = Station.get(Station.cpid == cpid).id
    clock = sessions.Clock(skew_limit_s=10**9, last_boot_at=None)
    session, _ = sessions.record_start(
        station_id, {"connectorId": 1, "idTag": "T1", "meterStart": meter_start,
                     "timestamp": _ocpp_time(start)}, "{}", start, clock, "Accepted", [])
    ChargingSession.update(tariff_snapshot=json.dumps(snap)).where(
        ChargingSession.id == session.id).execute()
    moment, register = start, float(meter_start or 50_000)
    for kind, seconds, more, kwh, delay in steps:
        if kind == "later":
            moment += timedelta(seconds=seconds, milliseconds=seconds % 997)
        elif kind == "older":
            moment -= timedelta(seconds=seconds // 7)
        register = max(0.0, register + more)
        value = f"{register / 1000:.4f}" if kwh else str(int(register))
        payload = {"connectorId": 1, "transactionId": session.transaction_id,
                   "meterValue": [{"timestamp": _ocpp_time(moment), "sampledValue": [
                       {"value": value, "unit": "kWh" if kwh else "Wh",
                        "measurand": "Energy.Active.Import.Register"},
                       {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"}]}]}
        received = max(moment, start) + timedelta(seconds=delay)
        with database.db.atomic():
            auth.meter_values_many([(station_id, payload, received)])
        live = ChargingSession.get_by_id(session.id)
        assert live.band_run  # the writer keeps a figure for a banded session
        now = received + timedelta(seconds=data.draw(st.integers(1, 4000)))
        extra = (data.draw(st.integers(0, 900)), data.draw(st.integers(0, 60)))
        from_figure = settlement.cost(live, now, *extra)
        live.band_run = None  # the same session priced from every sample
        assert from_figure == settlement.cost(live, now, *extra)


def test_the_figure_is_what_prices_a_long_session(make_settings: Any) -> None:
    """Samples in order, across band edges: every live price after the first samples comes
    from the figure (so a long session costs the same per MeterValues), and equals the full
    price; the figure moves on without reading the session's samples again."""
    database = open_database(make_settings())
    night = {"name": "night", "days": "all", "start": "22:00", "end": "06:00",
             "energy_per_kwh": "7.5", "time_per_hour": "1"}
    snap = tariff("Asia/Kolkata", night)
    start = datetime(2026, 12, 7, 15, 0, 0, 250_000)

    def go() -> None:
        create_station("RUN-LONG", {})
        station_id = Station.get(Station.cpid == "RUN-LONG").id
        clock = sessions.Clock(skew_limit_s=10**9, last_boot_at=None)
        session, _ = sessions.record_start(
            station_id, {"connectorId": 1, "idTag": "T1", "meterStart": 1000,
                         "timestamp": _ocpp_time(start)}, "{}", start, clock, "Accepted", [])
        ChargingSession.update(tariff_snapshot=json.dumps(snap)).where(
            ChargingSession.id == session.id).execute()
        reads = 0
        real = running.all_readings

        def counted(session_id: int) -> list[Any]:
            nonlocal reads
            reads += 1
            return real(session_id)

        running.all_readings = counted  # type: ignore[assignment]
        try:
            for n in range(1, 200):
                moment = start + timedelta(minutes=7 * n)
                payload = {"connectorId": 1, "transactionId": session.transaction_id,
                           "meterValue": [{"timestamp": _ocpp_time(moment), "sampledValue": [
                               {"value": str(1000 + 777 * n),
                                "measurand": "Energy.Active.Import.Register"}]}]}
                with database.db.atomic():
                    auth.meter_values_many([(station_id, payload, moment)])
                live = ChargingSession.get_by_id(session.id)
                now = moment + timedelta(seconds=30)
                assert running.prefix(live, now, now) is not None
                from_figure = settlement.cost(live, now)
                live.band_run = None
                assert from_figure == settlement.cost(live, now)
        finally:
            running.all_readings = real  # type: ignore[assignment]
        assert reads == 1  # the first MeterValues built the figure; the others moved it on
        assert len(from_figure.lines) == 2 and from_figure.lines[1].energy_wh > 0

    database.run_sync(go)
    database.db.close()
