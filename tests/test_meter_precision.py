"""A charger's energy register is kept to the Wh however far it has counted. A busy DC charger
passes 2**24 Wh (16.7 MWh) within months; PostgreSQL's `real` (single precision) rounded such
registers to 2 Wh there, 8 Wh past 67 MWh, so a day's or a band's energy, taken from the
readings, was off by as much on the hosted option while SQLite's double kept it whole.

Against the test backend's real database (SQLite file or PostgreSQL), through the writer's own
MeterValues path."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from appliance.app import open_database
from appliance.billing import authorize as auth
from appliance.billing import running
from appliance.charging import sessions
from appliance.charging.admin import create_station
from appliance.db.models import MeterReading, Station

START = datetime(2026, 12, 7, 9, 0, 0, 250_000)
# Registers past 2**24 Wh, each one Wh apart from its neighbours: single precision cannot
# hold them (20,000,001 Wh is kept as 20,000,000 there; 100,000,003 as 100,000,000).
REGISTERS = [20_000_001, 20_000_003, 20_000_005, 100_000_003, 100_000_005]
POWERS = [7_400.5, 1_234_567.89, 350_000.125]  # the middle one: a megawatt charger


def _ocpp_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def test_registers_past_16_7_mwh_are_kept_to_the_wh(make_settings: Any) -> None:
    database = open_database(make_settings())

    def go() -> tuple[list[tuple[datetime, float]], list[Any]]:
        create_station("BIG-REGISTER", {})
        station_id = Station.get(Station.cpid == "BIG-REGISTER").id
        clock = sessions.Clock(skew_limit_s=10**9, last_boot_at=None)
        session, _ = sessions.record_start(
            station_id, {"connectorId": 1, "idTag": "T1", "meterStart": REGISTERS[0] - 1,
                         "timestamp": _ocpp_time(START)}, "{}", START, clock, "Accepted", [])
        for n, register in enumerate(REGISTERS, start=1):
            moment = START + timedelta(minutes=n)
            sampled = [{"value": str(register), "measurand": "Energy.Active.Import.Register"}]
            if n <= len(POWERS):
                sampled.append({"value": str(POWERS[n - 1]), "unit": "W",
                                "measurand": "Power.Active.Import"})
            payload = {"connectorId": 1, "transactionId": session.transaction_id,
                       "meterValue": [{"timestamp": _ocpp_time(moment),
                                       "sampledValue": sampled}]}
            with database.db.atomic():
                auth.meter_values_many([(station_id, payload, moment)])
        powers = [p for (p,) in MeterReading.select(MeterReading.power_w)
                  .where(MeterReading.session == session.id, MeterReading.power_w.is_null(False))
                  .order_by(MeterReading.timestamp).tuples()]
        return running.all_readings(session.id), powers

    readings, powers = database.run_sync(go)
    database.db.close()
    assert [wh for _, wh in sorted(readings)] == REGISTERS  # as the band split reads them
    assert powers == POWERS
