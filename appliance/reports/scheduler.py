"""The nightly job on APScheduler 3.x inside the process (no systemd timer): each site's night
at its own `nightly_time` in its own time zone (the box's own site's night also backs up and
prunes), and a catch-up of every site's missing days at start and every hour after.
A lock keeps the jobs one at a time; the context cancels a job still running at shutdown, before
the database closes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from appliance import keys
from appliance.db.database import Database
from appliance.db.site import DEFAULT_SITE, site_ids
from appliance.reports.nightly import catch_up, nightly, retry_mail, site_settings

log = logging.getLogger(__name__)
NIGHTLY_ID, CATCH_UP_ID = "nightly", "catch-up"


def nightly_id(site_id: int) -> str:
    """The job id of a site's night (the box's own site keeps the id it always had)."""
    return NIGHTLY_ID if site_id == DEFAULT_SITE else f"{NIGHTLY_ID}-{site_id}"


class NightlyScheduler:
    """Owns the APScheduler and the tasks of the jobs it started."""

    def __init__(self, database: Database, settings: Any) -> None:
        self.database, self.settings = database, settings
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.lock = asyncio.Lock()
        self.tasks: set[asyncio.Task[None]] = set()
        # Per site: (time zone, HH:MM) its cron trigger uses.
        self.when: dict[int, tuple[str, str]] = {}
        self.started = False
        self.caught_up = asyncio.Event()  # set once the start's catch-up has run

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    async def start(self) -> None:
        if self.started:  # a leader again (hosted): a fresh scheduler, its jobs made anew
            self.scheduler = AsyncIOScheduler(timezone=UTC)
            self.when = {}
            self.caught_up = asyncio.Event()
        self.started = True
        await self._schedule_nightly()
        # Catch-up at start, then hourly: a day skipped by DST or downtime is filled in.
        self.scheduler.add_job(self._spawn, IntervalTrigger(hours=1), args=[self._hourly],
                               id=CATCH_UP_ID, next_run_time=datetime.now(UTC),
                               coalesce=True, max_instances=1)
        self.scheduler.start()

    async def stop(self) -> None:
        self.scheduler.shutdown(wait=False)
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _schedule_nightly(self) -> None:
        """(Re)schedule each site's night when its time zone or nightly time changed (and a new
        site's)."""
        for site_id in await self.database.read(site_ids):
            site = await site_settings(self.database, self.settings, site_id)
            when = (site.timezone, site.nightly_time)
            if when == self.when.get(site_id):
                continue
            hour, minute = (int(p) for p in site.nightly_time.split(":"))
            trigger = CronTrigger(hour=hour, minute=minute, timezone=site.tz)
            # A box that was off at the nightly time runs the job when it is back within the
            # hour; later than that the hourly catch-up fills the days in.
            self.scheduler.add_job(self._spawn, trigger, args=[self._night(site_id)],
                                   id=nightly_id(site_id), replace_existing=True, coalesce=True,
                                   max_instances=1, misfire_grace_time=3600)
            self.when[site_id] = when
            log.info("nightly job of site %d at %s %s", site_id, site.nightly_time,
                     site.timezone)

    async def reschedule(self) -> None:
        """Schedule the nights again now (a site was made or its night moved)."""
        await self._schedule_nightly()

    async def _spawn(self, job: Callable[[], Awaitable[None]]) -> None:
        # A coroutine, so APScheduler calls it on the loop (a plain function would go to a
        # thread); it starts our own task, which shutdown can cancel and await.
        task = asyncio.get_running_loop().create_task(self._guarded(job))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _guarded(self, job: Callable[[], Awaitable[None]]) -> None:
        async with self.lock:
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed night must not stop the next one
                log.exception("the %s job failed", getattr(job, "__name__", "nightly"))

    def _night(self, site_id: int) -> Callable[[], Awaitable[None]]:
        async def night() -> None:
            await nightly(self.database, self.settings, site_id=site_id)

        night.__name__ = f"nightly of site {site_id}"
        return night

    async def _hourly(self) -> None:
        try:
            await self._schedule_nightly()
            await catch_up(self.database, self.settings)
            await retry_mail(self.database, self.settings)
        finally:
            self.caught_up.set()




async def scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: after the database (it needs it), before nothing else."""
    scheduler = NightlyScheduler(app[keys.DATABASE], app[keys.SETTINGS])
    app[keys.SCHEDULER] = scheduler
    node = app.get(keys.NODE)
    if node is None:  # a box: its one process is the leader
        await scheduler.start()
        yield
        await scheduler.stop()
        return
    follow = asyncio.create_task(_follow_leader(node, scheduler), name="nightly-leader")
    yield
    follow.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await follow
    if scheduler.running:
        await scheduler.stop()


async def _follow_leader(node: Any, scheduler: NightlyScheduler) -> None:
    """Hosted: the nightly work runs on the process that holds the leader lock only; when the
    leader dies another process takes the lock and starts it (with a catch-up at once)."""
    while True:
        changed = node.leader_changed
        if node.is_leader and not scheduler.running:
            log.info("leader: nightly work runs on this process")
            await scheduler.start()
        elif not node.is_leader and scheduler.running:
            log.info("no longer the leader: nightly work stops here")
            await scheduler.stop()
        await changed.wait()
