"""Issue 15, point 13: nothing grows without bound. The nightly job prunes idempotency records
after the 30 days DESIGN.md promises and every other table that grows with traffic by its stated
rule; the frame log and the failed-login memory keep their bounds as they are written."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.db.models import FrameLog, SecurityEvent, Station, StationNotice, UnknownTag, utcnow
from appliance.db.models_money import IdempotencyRecord
from appliance.db.models_people import AuditLog
from appliance.ocpp.endpoint import LoginLimiter
from appliance.reports.nightly import nightly
from tests.conftest import Api, add_station, eventually


def _fill(days_old: dict[str, list[int]]) -> None:
    now = utcnow()
    station = Station.create(cpid="RET-1", key="RET-1", approved=True)
    for i, age in enumerate(days_old["idempotency"]):
        IdempotencyRecord.create(principal="p", method="POST", path="/x", key=f"k{i}",
                                 body_hash="h", status=201, response="{}",
                                 created_at=now - timedelta(days=age))
    for i, age in enumerate(days_old["audit"]):
        AuditLog.create(actor="a", action=f"act{i}", at=now - timedelta(days=age))
    for i, age in enumerate(days_old["security"]):
        SecurityEvent.create(cpid="RET-1", type=f"t{i}", received_at=now - timedelta(days=age))
    for i, age in enumerate(days_old["notice"]):
        StationNotice.create(station=station, kind=f"k{i}", payload="{}",
                             received_at=now - timedelta(days=age))
    for i, age in enumerate(days_old["unknown"]):
        moment = now - timedelta(days=age, seconds=i)
        UnknownTag.create(key=f"U{i}", id_tag=f"U{i}", first_seen_at=moment,
                          last_seen_at=moment)


def _ages() -> dict[str, Any]:
    now = utcnow()

    def ages(model: Any, field: Any) -> list[int]:
        return sorted(round((now - t).total_seconds() / 86400)
                      for (t,) in model.select(field).tuples())

    return {"idempotency": ages(IdempotencyRecord, IdempotencyRecord.created_at),
            "audit": ages(AuditLog, AuditLog.at),
            "security": ages(SecurityEvent, SecurityEvent.received_at),
            "notice": ages(StationNotice, StationNotice.received_at),
            "unknown": UnknownTag.select().count()}


async def test_the_nightly_job_prunes_every_growing_table(server: TestServer) -> None:
    from appliance.reports.retention import RULES, UNKNOWN_TAGS_MAX

    database, settings = server.app[keys.DATABASE], server.app[keys.SETTINGS]
    assert {r.model._meta.table_name for r in RULES} >= {
        "idempotency_record", "unknown_tag", "audit_log", "station_notice", "security_event"}
    await database.run(_fill, {
        "idempotency": [1, 29, 31, 400], "audit": [1, 700, 731], "security": [3, 401],
        "notice": [2, 91], "unknown": [1] * (UNKNOWN_TAGS_MAX + 5) + [91]})
    await nightly(database, settings)
    after = await database.read(_ages)
    assert after == {"idempotency": [1, 29], "audit": [1, 700], "security": [3],
                     "notice": [2], "unknown": UNKNOWN_TAGS_MAX}


async def test_the_frame_log_keeps_its_bound(start_app: Any, make_settings: Any) -> None:
    server = await start_app(make_settings(frame_log_size=20))
    from tests.charger import connect_charger
    from tests.conftest import make_token

    token = await make_token(server)
    import aiohttp

    async with aiohttp.ClientSession() as session:
        api = Api(session, str(server.make_url("")).rstrip("/"), token)
        await add_station(api, "LOG-1", "secret-pass-1")
    async with connect_charger(server, "LOG-1", "secret-pass-1") as cp:
        await cp.boot()
        for _ in range(3):
            for _ in range(40):
                await cp.status(1, "Available")
            await asyncio.sleep(0.7)  # a flush or two

    def frames() -> int:
        return sum(c for (c,) in FrameLog.select(FrameLog.count).tuples())

    database = server.app[keys.DATABASE]

    async def flushed() -> bool:
        return await database.read(frames) > 0

    await eventually(flushed)
    assert 20 <= await database.read(frames) <= 1.5 * 20 + 2 * 40  # a flush above the bound


def test_frame_times_are_utcnow_isoformat() -> None:
    """The frame log's cheap clock writes what `utcnow().isoformat()` would: the same moment,
    always with its six digits of microseconds, in order, over second boundaries too."""
    import re
    import time

    from appliance.charging.frame_log import frame_time
    from appliance.db.models import utcnow

    stamps = []
    before = utcnow()
    while len(stamps) < 3 or stamps[0][:19] == stamps[-1][:19]:  # past a second boundary
        stamps.append(frame_time())
        time.sleep(0.002)
    after = utcnow()
    times = [datetime.fromisoformat(s) for s in stamps]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", s) for s in stamps)
    assert before <= times[0] and times == sorted(times) and times[-1] <= after
    assert all(t.tzinfo is None for t in times)


def test_failed_login_memory_is_bounded() -> None:
    limiter = LoginLimiter()
    for i in range(LoginLimiter.ADDRESSES_MAX + 500):
        limiter.failed(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert len(limiter._failures) == LoginLimiter.ADDRESSES_MAX


async def test_the_nightly_job_sweeps_old_login_sessions(server: TestServer) -> None:
    """A person who never logs in again leaves their ended and expired sessions behind; the
    nightly job removes those older than people.sessions.KEEP_ENDED, and keeps live ones."""
    from appliance.db.models import utcnow
    from appliance.db.models_people import LoginSession

    database, settings = server.app[keys.DATABASE], server.app[keys.SETTINGS]
    now = utcnow()

    def fill() -> None:
        for i, (ended, expires) in enumerate([(None, now + timedelta(hours=8)),   # live
                                              (now - timedelta(days=2), now),      # ended lately
                                              (now - timedelta(days=40), now),     # ended long ago
                                              (None, now - timedelta(days=31))]):  # expired
            LoginSession.create(kind="staff", person_id=1, token_hash=f"{i:064d}",
                                created_at=now - timedelta(days=60), seen_at=now,
                                expires_at=expires, ended_at=ended)

    def left() -> list[str]:
        return sorted(s.token_hash[-1] for s in LoginSession.select())

    await database.run(fill)
    await nightly(database, settings)
    assert await database.read(left) == ["0", "1"]
