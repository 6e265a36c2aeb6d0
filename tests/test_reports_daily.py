"""Daily statistics over a real SQLite file in the real app: days split at Berlin's midnight
across both DST changes and across midnight-spanning sessions, with a frozen clock; per-day rows
add up to the sessions' totals; catch-up after missed days; re-running a day changes nothing.

History is written straight into the tables (the charger's side is tested elsewhere): what is
under test here is what the nightly job makes of it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.config import Settings
from appliance.db.models import (
    Account,
    ChargingSession,
    Connector,
    Driver,
    MeterReading,
    Station,
    StatusEvent,
)
from appliance.db.models_money import LedgerEntry
from appliance.db.models_reports import DailyReport, DailyStat
from appliance.reports.nightly import catch_up, run_day
from appliance.reports.stats import compute_day, station_daily

BERLIN = "Europe/Berlin"


def utc(*parts: int) -> datetime:
    return datetime(*parts)  # naive UTC, as stored


# --- seeding (sync, for the writer) ---------------------------------------------------------------
def seed_station(cpid: str, first_seen: datetime, connectors: tuple[int, ...] = (1, 2)) -> int:
    st = Station.create(cpid=cpid, key=cpid.upper(), approved=True, online=True,
                        first_seen_at=first_seen, last_seen_at=first_seen)
    for c in connectors:
        Connector.create(station=st, connector_id=c, status="Available")
    return int(st.id)


def seed_status(station_id: int, connector: int, at: datetime, status: str) -> None:
    error = "OtherError" if status == "Faulted" else "NoError"
    StatusEvent.create(station=station_id, connector_id=connector, status=status,
                       error_code=error, received_at=at)


def seed_driver(name: str, currency: str = "EUR") -> tuple[int, int]:
    driver = Driver.create(name=name, group_tag=f"G{name.upper()[:18]}")
    account = Account.create(driver=driver, currency=currency)
    return int(driver.id), int(account.id)


_tx = iter(range(1, 10**6))


def seed_session(station_id: int, connector: int, start: datetime, stop: datetime | None,
                 wh: int, driver_id: int | None = None, account_id: int | None = None,
                 step_min: int = 15, flags: str = "", tag: str = "TAG1") -> int:
    """A session at constant power with an energy register sample every `step_min`."""
    tx = next(_tx)
    end = stop or start + timedelta(hours=1)
    s = ChargingSession.create(
        station=station_id, connector_id=connector, transaction_id=tx, start_key=f"k{tx}",
        id_tag=tag, id_tag_key=tag.upper(), start_status="Accepted", meter_start=1000,
        meter_stop=1000 + wh if stop else None, started_at=start, stopped_at=stop,
        state="completed" if stop else "active", energy_wh=wh, driver=driver_id,
        account=account_id, flags=flags, settled=stop is not None)
    span = (end - start).total_seconds()
    samples, moment = [], start + timedelta(minutes=step_min)
    while moment < end:
        value = 1000 + wh * (moment - start).total_seconds() / span
        samples.append({"station_id": station_id, "connector_id": connector, "session": s.id,
                        "timestamp": moment, "energy_wh": value,
                        "sampled": f'[{{"value":"{value:.1f}"}}]'})
        moment += timedelta(minutes=step_min)
    if samples:
        MeterReading.insert_many(samples).execute()
    return int(s.id)


def seed_ledger(account_id: int, amount: int, kind: str, reference: str, at: datetime,
                session_id: int | None = None, method: str = "") -> None:
    LedgerEntry.create(account=account_id, amount=amount, kind=kind, reference=reference,
                       created_at=at, session=session_id, method=method)
    Account.update(balance=Account.balance + amount).where(Account.id == account_id).execute()


# --- fixtures -------------------------------------------------------------------------------------
@pytest.fixture
async def berlin(start_app: Any, make_settings: Callable[..., Settings]) -> TestServer:
    return await start_app(make_settings(site_timezone=BERLIN, currency="EUR"))


def _spring(database_run: Any) -> Any:
    return database_run


async def seed_dst_site(server: TestServer) -> dict[str, int]:
    """Spring forward (2026-03-29, 23 h) and fall back (2026-10-25, 25 h) in Berlin, each with
    a session across local midnight, its charge row posted after midnight."""
    run = server.app[keys.DATABASE].run

    def seed() -> dict[str, int]:
        st = seed_station("DST-1", utc(2026, 3, 1))
        driver, account = seed_driver("Asha")
        seed_ledger(account, 10000, "topup", "topup:1", utc(2026, 3, 2), method="cash")
        # 22:00 CET on the 28th to 03:00 CEST on the 29th: 4 real hours, 2 on each day.
        seed_status(st, 1, utc(2026, 3, 28, 12), "Available")
        seed_status(st, 1, utc(2026, 3, 28, 21), "Charging")
        seed_status(st, 1, utc(2026, 3, 29, 1), "Available")
        spring = seed_session(st, 1, utc(2026, 3, 28, 21), utc(2026, 3, 29, 1), 11000,
                              driver, account)
        seed_ledger(account, -1234, "charge", f"charge:{spring}", utc(2026, 3, 29, 1, 0, 5),
                    spring)
        # Connector 2 charges over the same midnight, overlapping: the charger's union counts
        # the shared hour once.
        seed_status(st, 2, utc(2026, 3, 28, 22), "Charging")
        seed_status(st, 2, utc(2026, 3, 29, 0), "Faulted")
        seed_status(st, 2, utc(2026, 3, 29, 3), "Available")
        # 23:00 CEST on the 24th of October to 02:00 CET on the 25th (after the repeated hour).
        seed_status(st, 1, utc(2026, 10, 24, 21), "Charging")
        seed_status(st, 1, utc(2026, 10, 25, 1), "Available")
        autumn = seed_session(st, 1, utc(2026, 10, 24, 21), utc(2026, 10, 25, 1), 8000,
                              driver, account, step_min=10)
        seed_ledger(account, -800, "charge", f"charge:{autumn}", utc(2026, 10, 25, 1, 0, 5),
                    autumn)
        return {"station": st, "spring": spring, "autumn": autumn, "account": account}

    return await run(seed)


def _day(rows: list[Any], day: date) -> tuple[Any, dict[int, Any]]:
    for whole, connectors in rows:
        if whole.day == day:
            return whole, {c.connector_id: c for c in connectors}
    raise AssertionError(f"no row for {day}")


async def test_spring_forward_splits_hours_energy_and_fees(berlin: TestServer) -> None:
    ids = await seed_dst_site(berlin)
    database = berlin.app[keys.DATABASE]
    tz = berlin.app[keys.SETTINGS].tz
    with time_machine.travel(datetime(2026, 3, 30, 1, 30, tzinfo=UTC), tick=True):
        for day in (date(2026, 3, 28), date(2026, 3, 29)):
            await run_day(database, berlin.app[keys.SETTINGS], day)
        rows = await database.read(station_daily, ids["station"], date(2026, 3, 28),
                                   date(2026, 3, 29), tz)
    d28, c28 = _day(rows, date(2026, 3, 28))
    d29, c29 = _day(rows, date(2026, 3, 29))
    assert c28[1].charging_s == 2 * 3600 and c29[1].charging_s == 2 * 3600
    assert c28[2].charging_s == 3600 and c29[2].charging_s == 3600
    assert d28.charging_s == 2 * 3600 and d29.charging_s == 2 * 3600  # union, not the sum
    assert c29[2].faulted_s == 3 * 3600
    # The 29th has 23 hours: everything that is not charging or faulted on connector 1 is free.
    assert c29[1].available_s == 21 * 3600
    assert (c28[1].energy_wh, c29[1].energy_wh) == (5500, 5500)
    assert d28.energy_wh + d29.energy_wh == 11000
    assert (d28.fees_minor, d29.fees_minor) == (0, 1234)  # the day the charge row was posted
    assert (d28.sessions, d29.sessions, d28.drivers) == (1, 0, 1)


async def test_fall_back_day_has_25_hours(berlin: TestServer) -> None:
    ids = await seed_dst_site(berlin)
    database = berlin.app[keys.DATABASE]
    tz = berlin.app[keys.SETTINGS].tz
    with time_machine.travel(datetime(2026, 10, 27, 3, 0, tzinfo=UTC), tick=True):
        rows = await database.read(station_daily, ids["station"], date(2026, 10, 24),
                                   date(2026, 10, 25), tz)
    d24, c24 = _day(rows, date(2026, 10, 24))
    d25, c25 = _day(rows, date(2026, 10, 25))
    assert (c24[1].charging_s, c25[1].charging_s) == (3600, 3 * 3600)
    assert c25[1].charging_s + c25[1].available_s == 25 * 3600
    assert c24[1].energy_wh == 2000 and c25[1].energy_wh == 6000  # 2 kWh per real hour
    assert d24.charging_s + d25.charging_s == 4 * 3600  # the session's whole length
    assert d25.fees_minor == 800


async def test_rows_add_up_to_the_sessions_totals(berlin: TestServer) -> None:
    """Many random-length sessions over a week with a DST change: per-day sums are exact."""
    database = berlin.app[keys.DATABASE]
    tz = berlin.app[keys.SETTINGS].tz

    def seed() -> tuple[int, int, float]:
        st = seed_station("SUM-1", utc(2026, 3, 20), connectors=(1,))
        start, total_wh, total_s = utc(2026, 3, 25, 20), 0, 0.0
        for i in range(14):
            length = timedelta(minutes=97 + 53 * i)
            wh = 3000 + 777 * i
            seed_status(st, 1, start, "Charging")
            seed_status(st, 1, start + length, "Available")
            seed_session(st, 1, start, start + length, wh, step_min=7)
            total_wh, total_s = total_wh + wh, total_s + length.total_seconds()
            start += length + timedelta(hours=5, minutes=13)
        return st, total_wh, total_s

    st, total_wh, total_s = await database.run(seed)
    with time_machine.travel(datetime(2026, 4, 10, tzinfo=UTC), tick=True):
        rows = await database.read(station_daily, st, date(2026, 3, 25), date(2026, 4, 5), tz)
    assert sum(w.energy_wh for w, _ in rows) == pytest.approx(total_wh, abs=len(rows))
    assert sum(w.charging_s for w, _ in rows) == pytest.approx(total_s)
    assert sum(w.sessions for w, _ in rows) == 14


async def test_catch_up_after_three_missed_days_and_rerun_is_idempotent(
        berlin: TestServer) -> None:
    ids = await seed_dst_site(berlin)
    database, settings = berlin.app[keys.DATABASE], berlin.app[keys.SETTINGS]
    with time_machine.travel(datetime(2026, 3, 26, 2, 0, tzinfo=UTC), tick=True):
        first = await catch_up(database, settings)
    assert first[0].day == date(2026, 3, 1) and first[-1].day == date(2026, 3, 25)
    # The box is off for three nights, then starts on the 30th: the three missed days and
    # yesterday (the short DST day among them) are computed, nothing else.
    with time_machine.travel(datetime(2026, 3, 30, 6, 0, tzinfo=UTC), tick=True):
        later = await catch_up(database, settings)
        assert [o.day for o in later] == [date(2026, 3, d) for d in (26, 27, 28, 29)]
        assert await catch_up(database, settings) == []

        def snapshot() -> tuple[list[Any], list[Any]]:
            stats = [(r.station_id, r.connector_id, str(r.day), r.charging_s, r.available_s,
                      r.faulted_s, r.energy_wh, r.fees_minor, r.sessions, r.drivers)
                     for r in DailyStat.select().order_by(DailyStat.day, DailyStat.connector_id)]
            reports = [(str(r.day), r.data) for r in DailyReport.select().order_by(
                DailyReport.day)]
            return stats, reports

        before = await database.read(snapshot)
        again = await run_day(database, settings, date(2026, 3, 29))
        assert again.rows == 3  # the charger and its two connectors
        assert await database.read(snapshot) == before
    assert ids["station"] in {s[0] for s in before[0]}


async def test_today_is_computed_on_the_fly(berlin: TestServer) -> None:
    database = berlin.app[keys.DATABASE]
    tz = berlin.app[keys.SETTINGS].tz
    now = datetime.now(UTC)
    midnight = datetime.combine(now.astimezone(tz).date(), datetime.min.time(), tz)
    if now - midnight < timedelta(minutes=2):  # a session of today needs some of today
        await asyncio.sleep((midnight + timedelta(minutes=2) - now).total_seconds())
        now = datetime.now(UTC)
    # Charging for the last 30 minutes, or since the site's midnight if that is later (the
    # suite ran 13 minutes past midnight in Berlin once, and today had 13 minutes of it).
    start = max(now - timedelta(minutes=30), midnight).astimezone(UTC).replace(tzinfo=None)
    now = now.replace(tzinfo=None)

    def seed() -> int:
        st = seed_station("TODAY-1", now - timedelta(days=3), connectors=(1,))
        seed_status(st, 1, start, "Charging")
        seed_session(st, 1, start, None, 4000, step_min=5)
        return st

    st = await database.run(seed)
    today = now.replace(tzinfo=UTC).astimezone(tz).date()
    rows = await database.read(station_daily, st, today, today, tz)
    assert rows[0][0].charging_s == pytest.approx((now - start).total_seconds(), abs=5)
    assert rows[0][0].sessions == 1
    assert await database.read(compute_day, today + timedelta(days=1), tz) == []
