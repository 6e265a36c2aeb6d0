"""The nightly job and its parts: a day's statistics and report (computed on the read pool,
stored in one writer job), catch-up of missing days, the nightly backup and sample retention.
Everything takes the `Database` and the boot settings; the scheduler and the CLI call in."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from appliance import catalogs
from appliance.billing.check import check_ledger
from appliance.db.database import Database
from appliance.db.maintenance import backup
from appliance.db.models import ChargingSession, Station, utcnow
from appliance.db.models_reports import DailyReport, DailyStat
from appliance.db.site import DEFAULT_SITE, SiteSettings, defaults_from, load_site, site_ids
from appliance.reports import settlement
from appliance.reports.daily import day_bounds, days
from appliance.reports.mail import MailSettings, send_report
from appliance.reports.prune import prune_samples
from appliance.reports.report import build_report
from appliance.reports.retention import prune_growing
from appliance.reports.stats import StatRow, compute_day, from_stored, store_day
from appliance.reports.tables import csv_text, mail_subject, report_tables, summary_text

log = logging.getLogger(__name__)
CATCH_UP_DAYS = 31  # shorter than any sensible retention, so a caught-up day has its samples
MAIL_RETRY_DAYS = 7


@dataclass
class DayOutcome:
    day: date
    rows: int
    anomalies: int
    ledger_ok: bool
    mail_error: str = ""


@dataclass
class NightlyOutcome:
    days: list[DayOutcome] = field(default_factory=list)
    backup: Path | None = None
    pruned: int = 0
    retention: dict[str, int] = field(default_factory=dict)


def local_today(tz: Any, now: datetime | None = None) -> date:
    return (now or utcnow()).replace(tzinfo=UTC).astimezone(tz).date()


async def site_settings(database: Database, settings: Any,
                        site_id: int = DEFAULT_SITE) -> SiteSettings:
    return await database.read(load_site, defaults_from(settings), site_id)


def site_stations(site_id: int) -> list[int]:
    """Every charger of a site, retired ones too (their days stay the site's)."""
    return [s.id for s in Station.select(Station.id).where(Station.site_id == site_id)]


# --- one day --------------------------------------------------------------------------------------
def _final_rows(day: date, cutoff: datetime, tz: Any, ids: list[int]) -> list[StatRow] | None:
    """A day whose raw samples are pruned keeps its stored rows: they are final."""
    if day_bounds(day, tz)[1] > cutoff:
        return None
    rows = [from_stored(r) for r in DailyStat.select().where(
        (DailyStat.day == day) & DailyStat.station.in_(ids))
        .order_by(DailyStat.station, DailyStat.connector_id)]
    return rows or None


def _ledger_lines(database: Database) -> list[tuple[bool, str]]:
    return list(check_ledger(database))


def save_day(day: date, rows: list[StatRow], report: dict[str, Any],
             site_id: int = DEFAULT_SITE, ids: list[int] | None = None) -> None:
    """For the writer: the day's rows and its report (of one site) replace what was there."""
    store_day(day, rows, ids)
    values = {"data": json.dumps(report, sort_keys=True),
              "ledger_ok": all(line["ok"] for line in report["ledger"]),
              "anomalies": len(report["anomalies"]), "computed_at": utcnow()}
    (DailyReport.insert(site_id=site_id, day=day, **values)
     .on_conflict(conflict_target=[DailyReport.site_id, DailyReport.day],
                  update={getattr(DailyReport, k): v for k, v in values.items()}).execute())


def set_mail_status(day: date, error: str, site_id: int = DEFAULT_SITE) -> None:
    (DailyReport.update(mail_status="failed" if error else "sent", mail_error=error,
                        mail_at=utcnow())
     .where((DailyReport.day == day) & (DailyReport.site_id == site_id)).execute())


async def run_day(database: Database, settings: Any, day: date, *, mail: bool = True,
                  now: datetime | None = None, ledger: list[tuple[bool, str]] | None = None,
                  site_id: int = DEFAULT_SITE) -> DayOutcome:
    """Compute, store and (when configured) mail one site's statistics and report of one of its
    local days. `ledger` is the ledger check's result when the caller already has it (it is
    about now, not the day)."""
    now = now or utcnow()
    site = await site_settings(database, settings, site_id)
    ids = await database.read(site_stations, site_id)
    cutoff = now - timedelta(days=site.sample_retention_days)
    rows = await database.read(_final_rows, day, cutoff, site.tz, ids)
    if rows is None:
        rows = await database.read(compute_day, day, site.tz, now, ids)
    if ledger is None:
        ledger = await database.read(_ledger_lines, database)
    report = await database.read(build_report, day, site.tz, rows, ledger,
                                 site.stale_session_hours, site.currency, ids)
    if site_id == DEFAULT_SITE:
        # Online money is the operator's, like the ledger: reconciled once a night, with the
        # providers' lists, in the first site's report (the one that also backs the box up).
        report["settlement"] = await settlement.reconcile_day(database, settings,
                                                              day_bounds(day, site.tz))
        report["anomalies"] += settlement.anomalies(report["settlement"])
    await database.run(save_day, day, rows, report, site_id, ids)
    outcome = DayOutcome(day, len(rows), len(report["anomalies"]),
                         all(ok for ok, _ in ledger))
    if mail:
        outcome.mail_error = await mail_report(database, settings, day, report, site_id) or ""
    log.info("day %s: %d statistics rows, %d anomalies", day, outcome.rows, outcome.anomalies)
    return outcome


async def mail_report(database: Database, settings: Any, day: date,
                      report: dict[str, Any], site_id: int = DEFAULT_SITE) -> str | None:
    """Mail the report when SMTP is configured; store and return the failure, if any."""
    mail = MailSettings.from_settings(settings)
    if not mail.configured:
        return None
    tables = report_tables(report)
    # The report's addresses carry no language of their own: the site's language speaks.
    site = await site_settings(database, settings, site_id)
    translations, locale = catalogs.for_locale(site.locale)
    # Several sites send several reports a night: each subject names its site.
    label = day.isoformat() if site_id == DEFAULT_SITE else f"{day.isoformat()} {site.site_name}"
    error = await send_report(mail, mail_subject(label, translations),
                              summary_text(report, translations, locale),
                              {f"{name}-{day}.csv": csv_text(t) for name, t in tables.items()})
    if error:
        log.warning("mailing the report of %s failed: %s", day, error)
    await database.run(set_mail_status, day, error, site_id)
    return error


# --- catch-up -------------------------------------------------------------------------------------
def missing_days(first: date, last: date, tz: Any, site_id: int = DEFAULT_SITE) -> list[date]:
    """Days in [first, last] without a report of the site, not before its first charger was
    seen or its first session started; and days a replay reached after they were computed."""
    mine = Station.select(Station.id).where(Station.site_id == site_id)
    seen = Station.select(Station.first_seen_at).where(Station.site_id == site_id).order_by(
        Station.first_seen_at).limit(1).scalar()
    if seen is None:
        return []
    began = ChargingSession.select(ChargingSession.started_at).where(
        ChargingSession.station.in_(mine)).order_by(ChargingSession.started_at).limit(1).scalar()
    earliest = min(seen, began) if began is not None else seen
    first = max(first, earliest.replace(tzinfo=UTC).astimezone(tz).date())
    computed = {r.day: r.computed_at for r in DailyReport.select(
        DailyReport.day, DailyReport.computed_at)
        .where((DailyReport.day >= first) & (DailyReport.day <= last)
               & (DailyReport.site_id == site_id))}
    if first > last:
        return []
    stale = replayed_days(first, last, tz, computed, mine)
    return [d for d in days(first, last) if d not in computed or d in stale]


def replayed_days(first: date, last: date, tz: Any, computed: dict[date, datetime],
                  stations: Any = None) -> set[date]:
    """Days whose sessions (by their own start and stop times) arrived after the day was
    computed: an offline charger's replay, which must reach that day's figures."""
    if not computed:
        return set()
    since = day_bounds(first, tz)[0]
    now = utcnow()  # a receipt "after now" is a clock that went back, not a replay
    out: set[date] = set()
    for started, received_start, stopped, received_stop in (
            ChargingSession.select(ChargingSession.started_at, ChargingSession.received_start_at,
                                   ChargingSession.stopped_at, ChargingSession.received_stop_at)
            .where((ChargingSession.started_at >= since)
                   & (ChargingSession.station.in_(stations) if stations is not None else True)
                   & ((ChargingSession.received_start_at > min(computed.values()))
                      | (ChargingSession.received_stop_at > min(computed.values())))).tuples()):
        for moment, received in ((started, received_start), (stopped, received_stop)):
            if moment is None or received is None or received > now:
                continue
            day = moment.replace(tzinfo=UTC).astimezone(tz).date()
            if day in computed and received > computed[day] and first <= day <= last:
                out.add(day)
    return out


async def catch_up(database: Database, settings: Any, now: datetime | None = None,
                   site_id: int | None = None) -> list[DayOutcome]:
    """Compute every missing day of the catch-up window up to yesterday (DST or downtime), of
    one site or (None) of every site, each in its own time zone."""
    now = now or utcnow()
    out: list[DayOutcome] = []
    for one in [site_id] if site_id is not None else await database.read(site_ids):
        site = await site_settings(database, settings, one)
        yesterday = local_today(site.tz, now) - timedelta(days=1)
        window = min(CATCH_UP_DAYS, max(1, site.sample_retention_days - 1))
        todo = await database.read(missing_days, yesterday - timedelta(days=window - 1),
                                   yesterday, site.tz, one)
        if not todo:
            continue
        ledger = await database.read(_ledger_lines, database)
        reported = await database.read(_reported, todo, one)
        # A day computed again for a replay is not mailed again.
        out += [await run_day(database, settings, day, now=now, ledger=ledger, site_id=one,
                              mail=day not in reported) for day in todo]
    return out


def _reported(days: list[date], site_id: int = DEFAULT_SITE) -> set[date]:
    return {r.day for r in DailyReport.select(DailyReport.day).where(
        DailyReport.day.in_(days) & (DailyReport.site_id == site_id))}


def _failed_mails(since: date) -> list[tuple[date, str, int]]:
    return [(r.day, r.data, r.site_id) for r in DailyReport.select(
        DailyReport.day, DailyReport.data, DailyReport.site_id)
        .where((DailyReport.mail_status == "failed") & (DailyReport.day >= since))]


async def retry_mail(database: Database, settings: Any, now: datetime | None = None) -> int:
    """Send again the reports of the last days whose mail failed; returns how many went."""
    site = await site_settings(database, settings)
    since = local_today(site.tz, now) - timedelta(days=MAIL_RETRY_DAYS)
    sent = 0
    for day, data, site_id in await database.read(_failed_mails, since):
        sent += await mail_report(database, settings, day, json.loads(data), site_id) == ""
    return sent


# --- the whole night ------------------------------------------------------------------------------
def keep_backups(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` nightly backups; returns the deleted ones."""
    nightly = sorted(folder.glob("nightly-*.db"))
    gone = nightly[:-keep] if keep > 0 else nightly
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


async def nightly(database: Database, settings: Any, now: datetime | None = None,
                  site_id: int = DEFAULT_SITE) -> NightlyOutcome:
    """One site's night at its own nightly time: yesterday's statistics and report (again, if
    caught up early) and its missing days. The box's own site's night also does the
    installation's work: the backup, then pruning of raw samples past retention (curves
    kept)."""
    now = now or utcnow()
    site = await site_settings(database, settings, site_id)
    yesterday = local_today(site.tz, now) - timedelta(days=1)
    outcome = NightlyOutcome([await run_day(database, settings, yesterday, now=now,
                                            site_id=site_id)])
    outcome.days += await catch_up(database, settings, now, site_id)
    if site_id != DEFAULT_SITE:
        log.info("nightly job of site %d: %d days", site_id, len(outcome.days))
        return outcome
    folder = Path(settings.data_path) / "backups"
    outcome.backup = await asyncio.to_thread(backup, database,
                                             folder / f"nightly-{yesterday.isoformat()}.db")
    await asyncio.to_thread(keep_backups, folder, site.backups_keep)
    cutoff = now - timedelta(days=site.sample_retention_days)
    outcome.pruned = await prune_samples(database, cutoff)
    outcome.retention = await prune_growing(database, now)
    log.info("nightly job: %d days, backup %s, %d samples pruned, past retention: %s",
             len(outcome.days), outcome.backup.name, outcome.pruned,
             ", ".join(f"{n} {t}" for t, n in outcome.retention.items() if n) or "none")
    return outcome
