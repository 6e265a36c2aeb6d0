"""`appliance report --date D`: compute, store and mail one day's statistics and report by hand,
the same way the nightly job does (running it twice gives the same rows)."""

from __future__ import annotations

import argparse
import asyncio
from datetime import date, timedelta
from typing import Any

from appliance.errors import InvalidInput
from appliance.reports.nightly import DayOutcome, local_today, run_day


def _day(text: str | None, tz: Any) -> date:
    if not text:
        return local_today(tz) - timedelta(days=1)
    try:
        return date.fromisoformat(text)
    except ValueError as err:
        raise InvalidInput(f"--date {text!r}: dates look like 2026-01-31") from err


async def _run(settings: Any, day_text: str | None, mail: bool) -> DayOutcome:
    from appliance.db.maintenance import open_migrated
    from appliance.reports.nightly import site_settings

    database = open_migrated(settings)
    database.start()
    try:
        site = await site_settings(database, settings)
        day = _day(day_text, site.tz)
        if day >= local_today(site.tz):
            raise InvalidInput(f"{day} has not ended yet in {site.timezone}")
        return await run_day(database, settings, day, mail=mail)
    finally:
        database.stop()


def cmd_report(args: argparse.Namespace, settings: Any) -> int:
    """Handler of `appliance report [--date YYYY-MM-DD] [--no-mail]` (default: yesterday)."""
    outcome = asyncio.run(_run(settings, getattr(args, "date", None),
                               not getattr(args, "no_mail", False)))
    print(f"report for {outcome.day}: {outcome.rows} statistics rows, "
          f"{outcome.anomalies} anomalies, ledger {'agrees' if outcome.ledger_ok else 'DISAGREES'}")
    if outcome.mail_error:
        print(f"mail failed: {outcome.mail_error}")
    return 0 if outcome.ledger_ok and not outcome.mail_error else 1
