"""Savepoints: every one has the same name, so a write job's savepoint costs the writer no new
statement text (peewee named each anew, and at 10,000 chargers that churn pushed a third of the
site's statements out of SQLite's statement cache), and blocks nested as `with` blocks still
roll back alone, on both backends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from pathlib import Path
from typing import Any

import peewee
import pytest

from appliance.db.database import Database
from tests.pg import backend


@pytest.fixture
def url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend() == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    path = tmp_path / "savepoints.db"
    with contextlib.closing(sqlite3.connect(path)) as made:
        made.execute("PRAGMA journal_mode=WAL")
    return f"sqlite:///{path}"


@pytest.fixture
async def db(url: str) -> Any:
    database = Database(url)
    database.start()
    try:
        await database.run(database.db.execute_sql, "CREATE TABLE note (word TEXT NOT NULL)")
        yield database
    finally:
        database.stop()


def _note(database: Database, word: str) -> None:
    database.db.execute_sql(f"INSERT INTO note (word) VALUES ({database.db.param})", [word])


def _words(database: Database) -> list[str]:
    return [w for (w,) in database.db.execute_sql("SELECT word FROM note ORDER BY word")]


class Boom(Exception):
    pass


@pytest.mark.sqlite_only("SQLite's statement cache (apsw's counters)")
async def test_write_jobs_reuse_the_writer_s_statements(db: Database) -> None:
    def misses() -> int:
        return int(db.db.connection().cache_stats()["misses"])  # type: ignore[attr-defined]

    before = await db.run(misses)
    for i in range(200):  # one job a batch: BEGIN, its savepoint, the insert, COMMIT
        await db.run(_note, db, f"w{i}")
    # Each new text is one miss: the insert, the savepoint and its release once each (with a
    # fresh name per savepoint, two misses a job: 400).
    assert await db.run(misses) - before < 20
    assert len(await db.read(_words, db)) == 200


@pytest.mark.sqlite_only("SQLite's statement cache (apsw's counters)")
async def test_the_writer_keeps_a_site_s_statements_between_their_turns(db: Database) -> None:
    """APSW puts each statement back in the next slot of a ring, overwriting what is there: a
    statement run once in every 150 must still be there on its next turn (with APSW's default
    of 100 slots, every turn of all 150 missed)."""
    texts = [f"SELECT word, {i} FROM note WHERE word = ?" for i in range(150)]

    def turns() -> int:
        stats = db.db.connection().cache_stats()  # type: ignore[attr-defined]
        before = int(stats["misses"])
        for _ in range(4):
            for text in texts:
                db.db.execute_sql(text, ("w",)).fetchall()
        return int(db.db.connection().cache_stats()["misses"]) - before  # type: ignore[attr-defined]

    missed = await db.run(turns)
    assert missed <= len(texts) + 10  # the first turn of each, and nothing after


async def test_nested_blocks_still_roll_back_alone(db: Database) -> None:
    def job() -> None:
        atomic = db.db.atomic
        _note(db, "a-outer")
        with contextlib.suppress(Boom), atomic():
            _note(db, "b-inner")
            with atomic():
                _note(db, "c-innermost")  # released into b's savepoint, then rolled back
            raise Boom
        with atomic():
            _note(db, "d-kept")
            with contextlib.suppress(Boom), atomic():
                _note(db, "e-gone")
                raise Boom
            _note(db, "f-kept-after")

    def failing() -> None:
        _note(db, "g-failed-job")
        raise Boom

    outcomes = await asyncio.gather(db.run(job), db.run(failing), db.run(_note, db, "h-next-job"),
                                    return_exceptions=True)
    assert outcomes[0] is None and isinstance(outcomes[1], Boom) and outcomes[2] is None
    assert await db.read(_words, db) == ["a-outer", "d-kept", "f-kept-after", "h-next-job"]


async def test_a_block_that_fails_after_a_caught_inner_failure_rolls_back_whole(
        db: Database) -> None:
    def job() -> None:
        atomic = db.db.atomic
        with contextlib.suppress(Boom), atomic():
            _note(db, "x-outer")
            with contextlib.suppress(Boom), atomic():
                _note(db, "y-inner")
                raise Boom  # the inner block rolls back; its savepoint must not stay behind
            _note(db, "z-outer-after")
            raise Boom  # now the outer one rolls back: to its own start, not the inner's
        _note(db, "kept")

    await db.run(job)
    assert await db.read(_words, db) == ["kept"]


async def test_a_statement_s_errors_and_debug_log_are_peewee_s(
        db: Database, caplog: pytest.LogCaptureFixture) -> None:
    """SQLite's statements skip peewee's wrapper calls around the cursor; what callers rely on
    stays: a constraint broken is peewee's IntegrityError (ledger, cards and sessions catch it),
    a bad statement a peewee DatabaseError, and peewee's DEBUG log still shows statements."""
    await db.run(db.db.execute_sql, "CREATE UNIQUE INDEX note_word ON note (word)")
    await db.run(_note, db, "once")
    with pytest.raises(peewee.IntegrityError):
        await db.run(_note, db, "once")
    with pytest.raises(peewee.DatabaseError):
        await db.run(db.db.execute_sql, "SELECT nothing FROM nowhere")
    with caplog.at_level(logging.DEBUG, logger="peewee"):
        await db.run(_note, db, "logged")
    assert any("logged" in str(r.msg) for r in caplog.records)
    assert await db.read(_words, db) == ["logged", "once"]
