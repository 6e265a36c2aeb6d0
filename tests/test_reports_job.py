"""The nightly job in the real app over real SQLite: the ledger check catches a broken row, the
backup keeps the last N, retention prunes raw samples but keeps totals and a curve, the
scheduler catches missing days up at start, and `appliance report` runs a day by hand."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import time_machine
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.config import Settings
from appliance.db.models import ChargingSession, MeterReading
from appliance.db.models_money import LedgerEntry
from appliance.db.models_reports import DailyReport, DailyStat, SessionCurve
from appliance.db.site import defaults_from, save_site
from appliance.reports.cli_report import cmd_report
from appliance.reports.nightly import nightly, run_day
from appliance.reports.prune import session_points
from appliance.reports.scheduler import NIGHTLY_ID, scheduler_ctx
from appliance.web.admin.reports import get_report
from tests.test_reports_daily import (
    BERLIN,
    seed_driver,
    seed_ledger,
    seed_session,
    seed_station,
    seed_status,
)


def naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


async def test_ledger_check_finds_a_broken_row(server: TestServer) -> None:
    database, settings = server.app[keys.DATABASE], server.app[keys.SETTINGS]
    now = naive(datetime.now(UTC))

    def seed() -> int:
        seed_station("LEDGER-1", now - timedelta(days=5), connectors=(1,))
        _, account = seed_driver("Bina", "INR")
        seed_ledger(account, 50000, "topup", "topup:a", now - timedelta(days=2), method="cash")
        seed_ledger(account, 20000, "topup", "topup:b", now - timedelta(days=2), method="upi")
        return account

    account = await database.run(seed)
    yesterday = (datetime.now(settings.tz) - timedelta(days=1)).date()
    good = await run_day(database, settings, yesterday, mail=False)
    assert good.ledger_ok
    # Someone edits a ledger row behind the money code's back: the cache no longer agrees.
    await database.run(lambda: LedgerEntry.update(amount=49000)
                       .where(LedgerEntry.reference == "topup:a").execute())
    bad = await run_day(database, settings, yesterday, mail=False)
    assert not bad.ledger_ok and bad.anomalies >= 1
    report = await database.read(get_report, yesterday)
    lines = [a["detail"] for a in report["data"]["anomalies"] if a["kind"] == "ledger"]
    assert any(f"account {account}: cached 70000/0, ledger 69000/0" in x for x in lines)
    assert not report["ledger_ok"]


async def test_nightly_backs_up_keeps_n_and_prunes_with_curves(
        start_app: Any, make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(site_timezone=BERLIN, currency="EUR")
    server = await start_app(settings)
    database = server.app[keys.DATABASE]
    await database.run(save_site, defaults_from(settings),
                       {"backups_keep": 2, "sample_retention_days": 30}, "test")
    base = datetime(2026, 6, 1, 1, 0)  # naive UTC; 03:00 in Berlin (CEST)

    def seed() -> tuple[int, int]:
        st = seed_station("PRUNE-1", base - timedelta(days=60), connectors=(1,))
        seed_status(st, 1, base - timedelta(days=40, hours=3), "Charging")
        seed_status(st, 1, base - timedelta(days=40), "Available")
        old = seed_session(st, 1, base - timedelta(days=40, hours=3), base - timedelta(days=40),
                           9000, step_min=1)
        new = seed_session(st, 1, base - timedelta(days=2, hours=3), base - timedelta(days=2),
                           6000, step_min=1)
        return old, new

    old, new = await database.run(seed)
    old_day = (base - timedelta(days=40, hours=1)).date()
    await run_day(database, settings, old_day, now=base, mail=False)
    stat_before = await database.read(lambda: DailyStat.get(
        (DailyStat.day == old_day) & (DailyStat.connector_id == 0)).energy_wh)
    for n in range(3):
        with time_machine.travel(base + timedelta(days=n), tick=True):
            outcome = await nightly(database, settings, now=base + timedelta(days=n))
    assert outcome.pruned == 0  # the first night pruned everything old already
    backups = sorted(p.name for p in (settings.data_path / "backups").glob("nightly-*.db"))
    assert backups == ["nightly-2026-06-01.db", "nightly-2026-06-02.db"]

    def after() -> tuple[int, int, int, str]:
        return (MeterReading.select().where(MeterReading.session == old).count(),
                MeterReading.select().where(MeterReading.session == new).count(),
                ChargingSession.get_by_id(old).energy_wh,
                SessionCurve.get_by_id(old).points)

    old_samples, new_samples, energy, _ = await database.read(after)
    assert (old_samples, energy) == (0, 9000) and new_samples == 179
    points = await database.read(session_points, old)
    assert len(points) == 100 and points[0] == (0, 0) and points[-1] == (3 * 3600, 9000)
    # The pruned day is final: computing it again keeps its rows.
    await run_day(database, settings, old_day, now=base + timedelta(days=3), mail=False)
    assert await database.read(lambda: DailyStat.get(
        (DailyStat.day == old_day) & (DailyStat.connector_id == 0)).energy_wh) == stat_before


async def test_scheduler_catches_up_at_start_and_schedules_the_night(
        start_app: Any, make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(site_timezone=BERLIN)
    first = await start_app(settings)
    now = naive(datetime.now(UTC))
    await first.app[keys.DATABASE].run(seed_station, "CATCH-1", now - timedelta(days=4), (1,))
    await first.close()
    # The box was off for days; it comes back with the scheduler running.
    from appliance.app import create_app

    app = create_app(settings)
    app.cleanup_ctx.append(scheduler_ctx)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        database = app[keys.DATABASE]

        async def reports() -> int:
            return await database.read(lambda: DailyReport.select().count())

        for _ in range(100):
            if await reports() >= 4:
                break
            await asyncio.sleep(0.05)
        days = await database.read(lambda: sorted(r.day for r in DailyReport.select()))
        today = datetime.now(settings.tz).date()
        assert days == [today - timedelta(days=d) for d in (4, 3, 2, 1)]
        job = app[keys.SCHEDULER].scheduler.get_job(NIGHTLY_ID)
        local = job.next_run_time.astimezone(settings.tz)
        assert (local.hour, local.minute) == (2, 30)
    finally:
        await server.close()


async def test_report_command_runs_a_day(make_settings: Callable[..., Settings],
                                         tmp_path: Path, capsys: Any) -> None:
    settings = make_settings(data_dir=str(tmp_path / "cli"))
    code = await asyncio.to_thread(cmd_report, argparse.Namespace(date="2026-01-05"), settings)
    assert code == 0
    assert "report for 2026-01-05: 0 statistics rows" in capsys.readouterr().out
    again = await asyncio.to_thread(cmd_report, argparse.Namespace(date=None), settings)
    assert again == 0
