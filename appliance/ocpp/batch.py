"""Cheap writes for the high-rate charger reports (StatusNotification, MeterValues, a boot storm's
BootNotifications) and liveness (Heartbeat): many reports go to the database writer as one job,
each in its own savepoint, and every awaiter is answered only after that job's batch has
committed. Liveness is kept in memory and written every few seconds: "online" comes from the
socket, `last_seen_at` may lag a little.

Why: through `database.run` each report costs a queue hand-over, a savepoint and a cross-thread
wake-up of its own; here a loop turn's worth of reports shares them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any, TypeVar

from appliance.charging import stations
from appliance.db.database import Database, fail_waiters

log = logging.getLogger(__name__)
T = TypeVar("T")

BATCH_MAX = 500  # reports per database job: bounds the time one job holds the writer
# A batch costs the writer some 0.1-0.3 ms besides its reports (BEGIN and COMMIT, the disk
# sync's system calls, the hand-overs, its look-ups, insert, update and savepoints), so batches
# of five cost a MeterValues twice what batches of a hundred do (bench/writer.py). A busy
# writer makes big batches by itself (reports join the job that waits for it); an idle one, on
# a second core, takes each report at once. So while the site is OPEN (many chargers, each
# reporting now and then, as a steady site does), the database writer gathers: a batch waits
# until HOLD_S after the last one began (`Database.gather_s`), and every job handed over
# meanwhile joins it -- a report job keeps taking reports, and the starts, stops and
# Authorizes of the site go in the same commit. At most HOLD_S more before an answer (15 ms,
# a sixth of the 100 ms a p99 may take; a person's page-lane write never waits for it). Round
# seven, steady 5,000 chargers on two cores: the server's CPU 0.77x with 5 ms; round ten, the
# steady 10,000: 15 ms instead of 5 took the server from 79% to 74% of a core, p50 7.6 -> 15
# ms, p99 35 -> 43 ms (bench/README.md "Round ten"). It never waits when the site is CLOSED:
# when the chargers reporting send more than OPEN_MAX reports a second each (over a window of
# WINDOW_S), they are sending their next report as soon as they get an answer (a saturated
# site, a bench's closed loop), and there every ms of wait becomes fewer messages (round four:
# a fixed 10-20 ms gap cost the saturation run 15-25%). A steady site's charger sends its two
# connectors' MeterValues every 10 s or more: some 0.2 a second; the saturation bench's, 3-15
# a second even on a starved machine (a per-second window misjudged it: in one second a
# charger's two connectors already make two). Nor does a batch wait when too few reports come
# for a wait to gather any (under HOLD_WORTH in HOLD_S: a quiet box answers at once), nor once
# a report job holds GATHER_MIN. The site is judged every WINDOW_S on the reports of that window.
# (Round five had the report writer hold report jobs itself, off by default: on one core the
# writer only runs when the loop lets it, batches were big already, and the CPU did not move.)
HOLD_S = 0.015
OPEN_MAX = 1.0  # reports a second per reporting charger, above which the site is closed-loop
HOLD_WORTH = 2.0  # reports expected to join during HOLD_S, below which no job waits
WINDOW_S = 5.0
GATHER_MIN = 32
LIVENESS_FLUSH_S = 5.0
# Stations per writer job of a liveness flush: the jobs go one after another, so a person's
# write (`run_first`) waits behind one of them at most. 10,000 stations in one job held the
# writer 30-80 ms every 5 s, and a desk top-up that came then waited for all of it (the money
# bench's worst top-ups, round eleven); 1,000 take a few ms.
LIVENESS_JOB_ROWS = 1000

Many = Callable[[list[tuple[Any, ...]]], list[Any]]
Item = tuple[Callable[..., Any], tuple[Any, ...], Many | None]


def _run_together(items: list[Item]) -> list[tuple[Any, BaseException | None]]:
    """Every item, those with a set-based form through it (one call per form, with every such
    item's arguments in order), the others one by one."""
    outcomes: list[tuple[Any, BaseException | None]] = [(None, None)] * len(items)
    groups: dict[Many, list[int]] = {}
    for i, (fn, args, many) in enumerate(items):
        if many is None:
            outcomes[i] = (fn(*args), None)
        else:
            groups.setdefault(many, []).append(i)
    for many, indexes in groups.items():
        results = many([items[i][1] for i in indexes])
        for i, result in zip(indexes, results, strict=True):
            outcomes[i] = (result, None)
    return outcomes


def _run_items(database: Database, items: list[Item]) -> list[tuple[Any, BaseException | None]]:
    """On the writer thread: the whole batch at once, in one savepoint; should anything in it
    fail, that savepoint rolls back and every report runs again in a savepoint of its own
    through its one-by-one form, so only the bad one fails. In an optimistic batch (no
    savepoints, on PostgreSQL) a failure rises instead: the database runs the batch again with
    savepoints, and this again."""
    if database.optimistic:
        return _run_together(items)
    atomic = database.db.atomic
    try:
        with atomic():
            return _run_together(items)
    except Exception as err:
        log.info("a batch of %d reports failed together (%s); writing them one by one",
                 len(items), err)
    outcomes: list[tuple[Any, BaseException | None]] = []
    for fn, args, _ in items:
        try:
            with atomic():
                outcomes.append((fn(*args), None))
        except Exception as err:
            outcomes.append((None, err))
    return outcomes


class _Job:
    """Reports handed to the writer as one job. Until the writer thread starts it, later reports
    join it (under `lock`), so a busy writer takes ever bigger jobs instead of a queue of small
    ones, each of which would cost it its own savepoints and statements."""

    def __init__(self) -> None:
        self.items: list[Item] = []
        self.futures: list[asyncio.Future[Any]] = []
        self.started = False
        self.lock = threading.Lock()

    def join(self, items: list[Item], futures: list[asyncio.Future[Any]]) -> bool:
        with self.lock:
            if self.started or len(self.items) + len(items) > BATCH_MAX:
                return False
            self.items.extend(items)
            self.futures.extend(futures)
            return True

    def take(self) -> list[Item]:
        """On the writer thread: the job's reports, final from now on."""
        with self.lock:
            self.started = True
            return list(self.items)


def _run_job(database: Database, job: _Job) -> list[tuple[Any, BaseException | None]]:
    return _run_items(database, job.take())


class ReportWriter:
    """Collects reports during one turn of the event loop and hands them over as one job (or
    adds them to the job still waiting for the writer)."""

    def __init__(self, database: Database, gap_s: float = HOLD_S,
                 window_s: float = WINDOW_S) -> None:
        self.database = database
        self.gap_s = gap_s  # the most a batch waits for others (0: never)
        self.window_s = window_s
        self.holding = False  # whether the site was open in the last window: batches gather
        self.held_jobs = 0  # jobs handed over to a gathering writer (since the start)
        self._window_start = float("-inf")
        self._window_reports = 0
        self._window_sources: set[Any] = set()
        self._items: list[Item] = []
        self._futures: list[asyncio.Future[Any]] = []
        self._scheduled = False
        self._waiting: _Job | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Asking for the running loop costs a getpid() system call (asyncio checks for a
        # fork): once per writer, not once per report.
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self, fn: Callable[..., T], *args: Any, many: Many | None = None,
                  source: Any = None) -> T:
        """Like `database.run(fn, *args)`: returns `fn`'s result once it has committed.
        `many`, when given, is `fn`'s set-based form: it takes the argument tuples of several
        calls and returns their results, as calling `fn` on each in order would. `source` is
        who reports (a charger), for telling an open site from a closed loop."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        self._window_reports += 1
        self._window_sources.add(source)
        future: asyncio.Future[T] = loop.create_future()
        self._items.append((fn, args, many))
        self._futures.append(future)
        if len(self._items) >= BATCH_MAX:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)  # after every receive loop that is ready this turn
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        if not self._items:
            return
        items, futures = self._items, self._futures
        self._items, self._futures = [], []
        job = self._waiting
        if job is None or not job.join(items, futures):
            job = self._waiting = _Job()
            job.join(items, futures)
            now = asyncio.get_running_loop().time()
            if now - self._window_start >= self.window_s:
                self._judge(now)
            if self.holding:
                self.held_jobs += 1
            self._start(job)
        if self.holding and len(job.items) - len(items) < GATHER_MIN <= len(job.items):
            self.database.wake()  # enough to be worth a commit: no more waiting

    def _judge(self, now: float) -> None:
        """Whether batches gather in the next window: the site is open (each reporting charger
        sends at most OPEN_MAX reports a second) and busy enough for a wait to gather."""
        elapsed = now - self._window_start
        reports, sources = self._window_reports, len(self._window_sources)
        self._window_start, self._window_reports = now, 0
        self._window_sources = set()
        if elapsed == float("inf") or reports == 0:  # the first window: no history yet
            self.holding = False
            self._tell_writer()
            return
        rate = reports / max(elapsed, 1e-9)
        per_source = reports / sources / max(elapsed, 1.0)  # a second at least: a rate
        self.holding = rate * self.gap_s >= HOLD_WORTH and per_source <= OPEN_MAX
        self._tell_writer()

    def _tell_writer(self) -> None:
        """Tell the database writer whether batches wait for each other; wake it when not."""
        gather = self.gap_s if self.holding else 0.0
        if gather != self.database.gather_s:
            self.database.gather_s = gather
            if not gather:
                self.database.wake()

    def _start(self, job: _Job) -> None:
        loop = asyncio.get_running_loop()
        task = loop.create_task(self._write(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, job: _Job) -> None:
        try:
            outcomes = await self.database.run(_run_job, self.database, job)
        except BaseException as err:  # the commit failed (or we are cancelled): nobody's work
            job.take()  # (if the writer never started it, nothing may join it now)
            fail_waiters(job.futures, err)
            if not isinstance(err, Exception):
                raise
            return
        finally:
            if self._waiting is job:
                self._waiting = None
        for future, (result, error) in zip(job.futures, outcomes, strict=True):
            if future.done():  # its awaiter went away; the work is done all the same
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

    async def drain(self) -> None:
        """Write what is queued and wait for every job in flight (at shutdown)."""
        self._flush()
        if self._tasks:
            self.database.wake()  # a batch gathering commits now
            await asyncio.gather(*self._tasks, return_exceptions=True)


class Liveness:
    """Last-seen times of the connected stations, written every few seconds in jobs of
    `job_rows` stations, one after another."""

    def __init__(self, database: Database, interval_s: float = LIVENESS_FLUSH_S,
                 job_rows: int = LIVENESS_JOB_ROWS) -> None:
        self.database = database
        self.interval_s = interval_s
        self.job_rows = job_rows
        self._seen: dict[int, datetime] = {}

    def touch(self, station_id: int, at: datetime) -> None:
        self._seen[station_id] = at

    async def flush(self) -> None:
        if not self._seen:
            return
        rows, self._seen = list(self._seen.items()), {}
        for i in range(0, len(rows), self.job_rows):
            chunk = rows[i:i + self.job_rows]
            try:
                await self.database.run(stations.write_last_seen, chunk)
            except Exception:
                log.exception("could not write the last-seen times of %d stations", len(chunk))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Liveness]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(self.interval_s)
                await self.flush()

        task = asyncio.create_task(loop(), name="liveness")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self.flush()
