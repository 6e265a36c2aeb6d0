"""The one database seam: `await database.run(fn, *args)` for writes on a single writer thread with
group commit, `await database.read(fn, *args)` on a small pool of read-only connections.

Every write job runs in its own savepoint inside a batch transaction; its awaiter is answered only
after the batch has committed, so nothing that was answered is ever lost, and a failing job rolls
back alone. Batches form by themselves: whatever queued while the previous commit ran goes into the
next one, so a quiet box commits each job at once and a busy one commits hundreds together.

On PostgreSQL every statement is a round trip to the server, a savepoint two more; there a batch
first runs without savepoints (optimistically), and only should a job fail is it rolled back and
run again with one per job, so the outcome is the same as with savepoints all along."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import random
import threading
import time as _time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import apsw
import peewee

from appliance.db.engines import open_peewee
from appliance.errors import DatabaseError

log = logging.getLogger(__name__)
T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")

# The checkpoint thread's period (see Database._checkpoint_loop); the writer's own backstop is
# engines.WAL_BACKSTOP_PAGES.
CHECKPOINT_EVERY_S = 0.5


@dataclass
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


def _deliver(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    # The awaiter may have been cancelled meanwhile; the work is done all the same.
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def fail_waiters(futures: Iterable[asyncio.Future[Any]], err: BaseException) -> None:
    """Every awaiter still waiting gets `err` (a cancellation, if it is not an Exception)."""
    for future in futures:
        if not future.done():
            future.set_exception(err if isinstance(err, Exception) else asyncio.CancelledError())


class Database:
    """Owns the peewee database, the writer thread and the read pool."""

    def __init__(self, url: str, *, batch_max: int = 500, read_threads: int = 2) -> None:
        self.url = url
        self.db = open_peewee(url)
        self.is_sqlite = not isinstance(self.db, peewee.PostgresqlDatabase)
        self._batch_max = batch_max
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        # The page lane (`run_first`): a person's write waits for the batch the writer is on,
        # never for the reports queued behind it. Each such job also puts a wake-up (_WAKE)
        # into `_jobs`, so a writer idle on that queue notices it.
        self._first: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self.first_batches = 0
        self.lane_cuts = 0  # batches committed in two parts, a page-lane job between them
        # `read_gathered`: the keys asked of each set-based look-up this loop turn, and the
        # reads under way (kept referenced until done).
        self._gathering: dict[Callable[..., Any], dict[Any, list[asyncio.Future[Any]]]] = {}
        self._gathered_reads: set[asyncio.Task[None]] = set()
        self._writer: threading.Thread | None = None
        self._checkpointer: threading.Thread | None = None
        self._stopping = threading.Event()
        self._readers = ThreadPoolExecutor(
            max_workers=read_threads, thread_name_prefix="db-read", initializer=self._init_reader
        )
        # The quick lane (`read_quick`): one reader thread of its own for the one-row look-ups
        # every API call makes first (its token), so that they never queue behind two pages'
        # reads (a 10,000-charger dashboard's is ~30 ms).
        self._quick = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="db-read-quick", initializer=self._init_reader
        )
        # Reader threads' connections by thread, closed at stop: a server counts open ones.
        self._reader_conns: dict[int, Any] = {}
        self._reader_lock = threading.Lock()
        self.commits = 0
        self.jobs_done = 0
        self.retries = 0  # batches run again after meeting another process's writer
        self.careful_reruns = 0  # optimistic batches run again with savepoints after a failure
        # The writer thread's: whether the batch now running has no savepoints per job
        # (PostgreSQL only), and how many batches are left to run with them after a failure.
        self._optimistic = False
        self._careful_left = 0
        # Group commit on an open site (set by the report writer's judgement, 0 otherwise; why:
        # ocpp/batch.py, HOLD_S): a batch waits until `gather_s` after the last one began.
        self.gather_s = 0.0
        self.gathered = 0  # batches that waited for others (since the start)
        self._last_batch_at = float("-inf")  # monotonic start of the last batch

    # --- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        from appliance.db.schema import ALL_MODELS

        self.db.bind(ALL_MODELS)
        self._writer = threading.Thread(target=self._write_loop, name="db-writer", daemon=True)
        self._writer.start()
        if self.is_sqlite:
            self._stopping.clear()
            self._checkpointer = threading.Thread(target=self._checkpoint_loop,
                                                  name="db-checkpoint", daemon=True)
            self._checkpointer.start()

    def stop(self) -> None:
        if self._writer is not None:
            self._jobs.put(None)
            self._writer.join()
            self._writer = None
        if self._checkpointer is not None:
            self._stopping.set()
            self._checkpointer.join()
            self._checkpointer = None
        self._readers.shutdown(wait=True)
        self._quick.shutdown(wait=True)
        with self._reader_lock:
            conns, self._reader_conns = list(self._reader_conns.values()), {}
        for conn in conns:  # the reader threads are gone; their connections are idle
            conn.close()

    def _usable(self) -> bool:
        """Whether this thread's connection can run a transaction. A PostgreSQL connection dies
        with its server or the network in between; the next job then opens a new one."""
        if self.db.is_closed():
            return False
        return self.is_sqlite or bool(self.db.is_connection_usable())

    def _open(self) -> bool:
        """Connect this thread (again, after a lost server). True when a new connection opened."""
        if self._usable():
            return False
        if not self.db.is_closed():
            log.warning("the database connection was lost; reconnecting")
            self.db.close()
        self.db.connect()
        return True

    def _init_reader(self) -> None:
        if not self._open():
            return
        with self._reader_lock:
            self._reader_conns[threading.get_ident()] = self.db.connection()
        if self.is_sqlite:
            self.db.execute_sql("PRAGMA query_only=ON")
        else:
            # Read-only, and one snapshot per read call as SQLite's WAL readers have, so a page
            # that sums the ledger and reads the balance sees both at the same moment.
            self.db.execute_sql("SET default_transaction_read_only = on")
            self.db.execute_sql("SET default_transaction_isolation = 'repeatable read'")

    # --- the seam ---------------------------------------------------------------------------
    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the writer thread inside a transaction; return after commit."""
        if self._writer is None:
            raise DatabaseError("the database is not started")
        loop = asyncio.get_running_loop()
        job = _Job(fn, args, loop, loop.create_future())
        self._jobs.put(job)
        return cast("T", await job.future)

    async def run_first(self, fn: Callable[..., T], *args: Any) -> T:
        """Like `run`, for a person waiting (a page's or the API's write: a QR start's hold, a
        desk top-up): committed in a small batch of its own before the jobs already queued (a
        report batch of hundreds of chargers' messages, or one still gathering: it has not
        begun), after the job the writer is on (the jobs of its batch done so far commit
        first, the rest after it). It costs one more commit, or two; keep it for what a person
        waits on."""
        if self._writer is None:
            raise DatabaseError("the database is not started")
        loop = asyncio.get_running_loop()
        job = _Job(fn, args, loop, loop.create_future())
        self._first.put(job)
        self._jobs.put(_WAKE)
        return cast("T", await job.future)

    def wake(self) -> None:
        """End a batch's wait for others (`gather_s`) now: what is queued is committed."""
        self._jobs.put(_WAKE)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on a read-only connection inside one read transaction."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read_one, fn, args)

    async def read_single(self, fn: Callable[..., T], *args: Any) -> T:
        """Like `read`, for a read of one statement (a look-up by key): on PostgreSQL no
        transaction around it, so one round trip to the server instead of three (BEGIN, the
        statement, COMMIT: at a boot storm most of the readers' time); a statement sees one
        snapshot of its own. Never for a read of two statements or more."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read_single, fn, args)

    def _read_single(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        if self.is_sqlite:  # a local transaction costs nothing worth saving
            return self._read_one(fn, args)
        return self._read_alone(fn, args)

    async def read_gathered(self, many: Callable[[list[K]], dict[K, V]], key: K) -> V | None:
        """`many([key]).get(key)`, read as `read_single` together with every other key asked
        of the same `many` in this turn of the event loop: one statement for a boot storm's
        look-ups (each charger's admission reads its station) instead of a round trip each,
        two at a time on two readers -- on PostgreSQL most of a boot storm's wait. `many`
        reads its keys in one statement and returns what it found by key."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[V | None] = loop.create_future()
        pending = self._gathering.get(many)
        if pending is None:
            pending = self._gathering[many] = {}
            loop.call_soon(self._read_gathered, many)
        pending.setdefault(key, []).append(future)
        return await future

    def _read_gathered(self, many: Callable[[list[Any]], dict[Any, Any]]) -> None:
        pending = self._gathering.pop(many)
        task = asyncio.get_running_loop().create_task(self._gathered(many, pending))
        self._gathered_reads.add(task)
        task.add_done_callback(self._gathered_reads.discard)

    async def _gathered(self, many: Callable[[list[Any]], dict[Any, Any]],
                        pending: dict[Any, list[asyncio.Future[Any]]]) -> None:
        try:
            found = await self.read_single(many, list(pending))
        except BaseException as err:
            fail_waiters([f for futures in pending.values() for f in futures], err)
            if not isinstance(err, Exception):
                raise
            return
        for key, futures in pending.items():
            for future in futures:
                if not future.done():
                    future.set_result(found.get(key))

    async def read_quick(self, fn: Callable[..., T], *args: Any) -> T:
        """Like `read_single`, on the quick lane: only for a look-up by key, of one statement,
        that a request waits on before anything else (an API token); never a page's read. No
        BEGIN and COMMIT around it on SQLite either: each statement hands the GIL back and
        waits to take it again, some milliseconds each beside a busy event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._quick, self._read_alone, fn, args)

    def _read_alone(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        """`fn(*args)` with no transaction around it: one statement, its own snapshot."""
        self._init_reader()
        return fn(*args)

    def _read_one(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        self._init_reader()
        with self.db.atomic():
            return fn(*args)

    def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """For the command line and migrations only: run in the calling thread, no loop."""
        self.db.connect(reuse_if_open=True)
        with self.db.atomic():
            return fn(*args)

    @property
    def optimistic(self) -> bool:
        """On the writer thread: whether the running batch has no savepoint per job. Code that
        would catch an error of its own savepoint to carry on (as the report writer's fallback
        does) lets it rise instead: the whole batch then runs again with savepoints."""
        return self._optimistic

    # --- the writer thread ------------------------------------------------------------------
    def _write_loop(self) -> None:
        try:
            while True:
                self._first_lane()  # its wake-up may have gone with the last batch
                first = self._jobs.get()
                self._first_lane()
                if first is None:
                    return
                batch = [] if first is _WAKE else [first]
                stop = self._gather(batch)
                # A person's job that ended the wait goes first: the gathered jobs have not
                # begun, so they are among those queued (`run_first`).
                self._first_lane()
                if batch:
                    self._commit_batch(batch)
                if stop:
                    self._first_lane()
                    return
        finally:
            self.db.close()

    def _gather(self, batch: list[_Job]) -> bool:
        """Add the jobs queued to `batch`; while `gather_s` is set, wait for more until that
        long after the last batch began (never for a person's job of the page lane: its
        wake-up ends the wait). Whether the stop sentinel came."""
        now = _time.monotonic()
        deadline = self._last_batch_at + self.gather_s if batch else now
        if deadline > now:
            self.gathered += 1
        while len(batch) < self._batch_max:
            wait = deadline - _time.monotonic()
            try:
                nxt = self._jobs.get(timeout=wait) if wait > 0 else self._jobs.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                return True
            if nxt is _WAKE:
                deadline = 0.0  # a person waits, or the report writer asks: commit now
            else:
                batch.append(nxt)
        self._last_batch_at = _time.monotonic()
        return False

    def _first_lane(self) -> None:
        """Commit the page lane's jobs waiting now, as a batch of their own."""
        batch: list[_Job] = []
        while len(batch) < self._batch_max:
            try:
                batch.append(self._first.get_nowait())
            except queue.Empty:
                break
        if batch:
            self.first_batches += 1
            self._commit_batch(batch, lane=True)

    def _checkpoint_loop(self) -> None:
        """Copy committed WAL pages into the database file off the writer thread (SQLite's own
        automatic checkpoint runs inside a commit, and under load that was a fifth of the
        writer's time). PASSIVE never blocks the writer or a reader; SQLite releases the GIL
        meanwhile, so on a second core it costs the OCPP traffic nothing."""
        conn = apsw.Connection(self.db.database, flags=apsw.SQLITE_OPEN_READWRITE)
        try:
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA synchronous=FULL")
            done = self.commits
            while not self._stopping.wait(CHECKPOINT_EVERY_S):
                if self.commits == done:
                    continue
                done = self.commits
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except apsw.Error as err:  # busy or a full disk: the writer's backstop remains
                    log.warning("WAL checkpoint failed: %s", err)
        finally:
            conn.close()

    def _commit_batch(self, batch: list[_Job], lane: bool = False) -> None:
        """Run `batch` as one transaction and answer its jobs after the commit. A person's job
        of the page lane that comes meanwhile does not wait for the rest of a chargers' batch:
        the jobs done so far are committed, the page lane's next, the rest after it."""
        while batch:
            outcomes = self._attempts(batch, yield_to_lane=not lane)
            done, batch = batch[:len(outcomes)], batch[len(outcomes):]
            self.commits += 1
            self.jobs_done += len(done)
            for job, (result, error) in zip(done, outcomes, strict=True):
                try:
                    job.loop.call_soon_threadsafe(_deliver, job.future, result, error)
                except RuntimeError:  # the loop is closed; nobody is waiting any more
                    pass
            if batch:
                self.lane_cuts += 1
                self._first_lane()

    def _attempts(self, batch: list[_Job], yield_to_lane: bool = False
                  ) -> list[tuple[Any, BaseException | None]]:
        """The batch as one transaction; the outcomes of its first jobs, all of them unless
        `yield_to_lane` and a page-lane job came while they ran (the rest is not begun). On
        PostgreSQL another process's writer may meet ours: a deadlock or a serialization
        failure rolls the whole batch back (its locks go with it) and runs it again from fresh
        rows, after a short random pause so the two do not meet the same way again."""
        attempt = 0
        while True:
            outcomes: list[tuple[Any, BaseException | None]] = []
            optimistic = not self.is_sqlite and self._careful_left == 0
            if self._careful_left:
                self._careful_left -= 1
            try:
                self._open()
                with self.db.atomic(), self._pass(optimistic):
                    for job in batch:
                        if yield_to_lane and outcomes and not self._first.empty():
                            break  # a person waits: commit what is done, then theirs
                        outcomes.append(self._run_job(job))
                    if not self.is_sqlite and self._aborted():
                        # a job caught a failed statement's error and went on: nothing after
                        # it could run, and COMMIT would quietly roll everything back
                        raise _JobFailed("the transaction was aborted")
                return outcomes
            except _JobFailed as failed:  # rolled back: the batch again, a savepoint per job
                log.info("a job of a batch of %d failed (%s); the batch again with savepoints",
                         len(batch), failed)
                self.careful_reruns += 1
                self._careful_left = CAREFUL_BATCHES
                continue
            except Exception as err:
                if retryable(err) and attempt < RETRIES:
                    self.retries += 1
                    log.info("batch of %d jobs met another writer (%s); again", len(batch),
                             _sqlstate(err))
                    _time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
                    attempt += 1
                    continue
                # the commit itself failed: nobody's work is kept
                log.exception("database commit failed for a batch of %d jobs", len(batch))
                failure = DatabaseError(f"commit failed: {err}")
                return [(None, failure)] * len(batch)

    @contextlib.contextmanager
    def _pass(self, optimistic: bool) -> Iterator[None]:
        self._optimistic = optimistic
        try:
            yield
        finally:
            self._optimistic = False

    def _aborted(self) -> bool:
        """Whether PostgreSQL has failed the open transaction (known to the driver, no round
        trip)."""
        adapter = cast("Any", self.db)._adapter
        return bool(adapter.txn_status(self.db.connection()) == adapter.txn_inerror)

    def _run_job(self, job: _Job) -> tuple[Any, BaseException | None]:
        if self._optimistic:
            try:
                return job.fn(*job.args), None
            except Exception as err:
                if retryable(err):
                    raise
                raise _JobFailed(str(err)) from err
        try:
            # a savepoint: a failing job rolls back alone
            with self.db.atomic():  # inside the batch: a savepoint (db/engines.py)
                return job.fn(*job.args), None
        except Exception as err:
            if retryable(err):
                raise  # the whole batch again: the other writer may hold our earlier rows
            return None, err


# Put into the writer's queue with each page-lane job: wakes a writer waiting on that queue.
_WAKE = cast("_Job", object())


class _JobFailed(Exception):
    """A job failed in an optimistic batch (no savepoints): the batch runs again with them."""


# After an optimistic batch failed, this many batches run with a savepoint per job (a site where
# jobs keep failing does not pay for every batch twice).
CAREFUL_BATCHES = 20

# PostgreSQL's serialization_failure and deadlock_detected: the unit of work is run again.
RETRY_STATES = frozenset({"40001", "40P01"})
RETRIES = 8


def _sqlstate(err: BaseException | None) -> str | None:
    seen = 0
    while err is not None and seen < 6:
        state = getattr(err, "sqlstate", None) or getattr(err, "pgcode", None)
        if state:
            return str(state)
        orig = getattr(err, "orig", None)
        if isinstance(orig, BaseException):
            err = orig
        elif err.args and isinstance(err.args[0], BaseException):
            err = err.args[0]
        else:
            err = err.__cause__ or err.__context__
        seen += 1
    return None


def retryable(err: BaseException) -> bool:
    """A deadlock or serialization failure: the same work can succeed when run again."""
    return _sqlstate(err) in RETRY_STATES
