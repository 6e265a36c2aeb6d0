"""The writer's page lane: a write a person waits for (`Database.run_first`: a QR start's hold,
a desk top-up) commits after the batch the writer is on, before the jobs queued behind it."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from pathlib import Path

import pytest

from appliance.db.database import Database
from tests.pg import backend


@pytest.fixture
def url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend() == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    path = tmp_path / "lane.db"
    with contextlib.closing(sqlite3.connect(path)) as made:  # the file exists, as migrated
        made.execute("PRAGMA journal_mode=WAL")
    return f"sqlite:///{path}"


async def test_page_lane_goes_before_queued_jobs(url: str) -> None:
    db = Database(url)
    db.start()
    try:
        order: list[str] = []
        holding, release = threading.Event(), threading.Event()

        def busy() -> None:  # the batch the writer is on
            order.append("busy")
            holding.set()
            release.wait(10)

        def job(name: str) -> str:
            order.append(name)
            return name

        # An idle writer takes a page-lane job at once (its wake-up reaches it).
        assert await db.run_first(job, "idle") == "idle"
        running = asyncio.ensure_future(db.run(busy))
        assert await asyncio.to_thread(holding.wait, 10)
        queued = [asyncio.ensure_future(db.run(job, f"report-{i}")) for i in range(3)]
        page = asyncio.ensure_future(db.run_first(job, "page"))
        await asyncio.sleep(0)  # every job handed over while the writer is busy
        release.set()
        assert await page == "page"
        assert await asyncio.gather(*queued) == ["report-0", "report-1", "report-2"]
        await running
        assert order == ["idle", "busy", "page", "report-0", "report-1", "report-2"]
        assert db.first_batches == 2
    finally:
        db.stop()


async def test_a_single_statement_read_opens_no_transaction_on_postgresql(url: str) -> None:
    """`read_single` (a boot storm's station look-ups): on PostgreSQL the statement runs on its
    own, one round trip, not between a BEGIN and a COMMIT (three); still read-only."""
    db = Database(url)
    db.start()
    try:
        await db.run(db.db.execute_sql, "CREATE TABLE probe (n INTEGER)")
        await db.run(db.db.execute_sql, "INSERT INTO probe (n) VALUES (7)")

        def look() -> tuple[bool, int]:
            (n,) = db.db.execute_sql("SELECT n FROM probe").fetchone()
            return db.db.in_transaction(), n

        def write() -> None:
            db.db.execute_sql("INSERT INTO probe (n) VALUES (8)")

        assert await db.read(look) == (True, 7)
        assert await db.read_single(look) == (db.is_sqlite, 7)
        with pytest.raises(Exception, match="read-only|readonly"):
            await db.read_single(write)
    finally:
        db.stop()


async def test_a_page_lane_job_goes_before_the_batch_its_wake_up_ends(url: str) -> None:
    """On an open site the writer gathers a batch before it begins it (`gather_s`); a person's
    job ends that wait and is committed first: the gathered jobs have not begun, so they are
    among the jobs queued (before: the person waited for the whole gathered batch and its
    commit, 5-15 ms at the steady 10,000, then for its own)."""
    db = Database(url)
    db.start()
    try:
        order: list[str] = []

        def job(name: str) -> str:
            order.append(name)
            return name

        await db.run(job, "before")  # a batch began just now: the next one gathers
        db.gather_s = 3600.0
        reports = [asyncio.ensure_future(db.run(job, f"report-{i}")) for i in range(3)]
        await asyncio.sleep(0.2)  # the writer holds them, waiting for more
        assert order == ["before"]
        assert await asyncio.wait_for(db.run_first(job, "page"), 10) == "page"
        assert await asyncio.wait_for(asyncio.gather(*reports), 10) == [
            "report-0", "report-1", "report-2"]
        assert order == ["before", "page", "report-0", "report-1", "report-2"]
    finally:
        db.gather_s = 0.0
        db.stop()


async def test_a_page_lane_job_does_not_wait_for_the_rest_of_the_batch(url: str) -> None:
    """A person's job that comes while the writer is inside a batch of chargers' jobs goes
    after the job the writer is on: what the batch did so far is committed (and answered),
    then the person's job, then the rest of the batch (before: after the whole batch, which
    at the steady 10,000 took some 20-50 ms of a top-up's time on a busy machine)."""
    db = Database(url)
    db.start()
    try:
        order: list[str] = []
        holding, release = threading.Event(), threading.Event()
        inside, go_on = threading.Event(), threading.Event()

        def blocker() -> None:  # the writer is busy while the next batch queues
            holding.set()
            release.wait(10)

        def first_of_batch() -> str:
            order.append("report-0")
            inside.set()
            go_on.wait(10)
            return "report-0"

        def job(name: str) -> str:
            order.append(name)
            return name

        blocked = asyncio.ensure_future(db.run(blocker))
        assert await asyncio.to_thread(holding.wait, 10)
        reports = [asyncio.ensure_future(db.run(first_of_batch)),
                   *(asyncio.ensure_future(db.run(job, f"report-{i}")) for i in (1, 2))]
        await asyncio.sleep(0.05)  # all three queued: the writer's next batch takes them
        release.set()
        await blocked
        assert await asyncio.to_thread(inside.wait, 10)  # inside that batch, at its first job
        page = asyncio.ensure_future(db.run_first(job, "page"))
        await asyncio.sleep(0.05)
        go_on.set()
        assert await asyncio.wait_for(page, 10) == "page"
        assert await asyncio.wait_for(asyncio.gather(*reports), 10) == [
            "report-0", "report-1", "report-2"]
        assert order == ["report-0", "page", "report-1", "report-2"]
        assert db.lane_cuts == 1
    finally:
        db.stop()
