"""The set-based report writers (charging.batched) write exactly what the one-by-one functions
write: the same random traffic goes to two mirrored sets of stations, one report at a time
through `record_status` / `record_meter_values` on one side and in batches (at most one report
per station each, as a connection awaits every answer) through `record_statuses` /
`record_meter_values_many` on the other; every row each side wrote must match.

Against the test backend's real database (SQLite file or PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import datetime, timedelta
from typing import Any

import peewee
import pytest
from peewee import IntegrityError

from appliance.app import open_database
from appliance.billing import accounts, ledger, tariffs, watch
from appliance.billing import authorize as auth
from appliance.charging import batched, frame_log, sessions, stations
from appliance.charging.admin import create_station
from appliance.db import fastsql
from appliance.db.models import (
    Account,
    ChargingSession,
    Connector,
    Driver,
    MeterReading,
    Station,
    StationNotice,
    StatusEvent,
)
from appliance.db.models_money import Hold
from appliance.ocpp.batch import GATHER_MIN, Liveness, ReportWriter

STATIONS = 5
STATUSES = ("Available", "Preparing", "Charging", "SuspendedEV", "Finishing", "Faulted")
T0 = datetime(2026, 11, 1, 8, 0, 0)


def _ocpp_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _traffic(seed: int) -> list[tuple[int, str, dict[str, Any]]]:
    """(station index, kind, payload with transaction ids as indexes into the station's list)."""
    rng = random.Random(seed)
    register = {(s, c): 1000 for s in range(STATIONS) for c in (1, 2)}
    out = []
    for n in range(240):
        s = rng.randrange(STATIONS)
        at = T0 + timedelta(seconds=n * 7)
        if rng.random() < 0.35:
            out.append((s, "status", {
                "connectorId": rng.choice((0, 1, 2, 3)), "status": rng.choice(STATUSES),
                "errorCode": rng.choice(("NoError", "NoError", "GroundFailure")),
                "timestamp": _ocpp_time(at), **({"info": "hot"} if rng.random() < 0.2 else {})}))
            continue
        connector = rng.choice((1, 2))
        step = rng.choice((0, 120, 400, 400, -50))  # now and then a register going backwards
        register[(s, connector)] += step
        sampled: list[dict[str, Any]] = []
        if rng.random() < 0.3:  # phases only: the register is their sum
            sampled += [{"value": str(register[(s, connector)] / 3), "phase": p,
                         "measurand": "Energy.Active.Import.Register"} for p in ("L1", "L2",
                                                                                 "L3")]
        else:
            sampled.append({"value": str(register[(s, connector)] / 1000), "unit": "kWh"})
        sampled.append({"value": str(rng.choice((0, 3700, 7200))),
                        "measurand": "Power.Active.Import", "unit": "W"})
        if rng.random() < 0.1:
            sampled.append({"value": "", "measurand": "SoC", "unit": "Percent"})
        payload: dict[str, Any] = {"connectorId": connector, "meterValue": [
            {"timestamp": _ocpp_time(at), "sampledValue": sampled}]}
        which = rng.random()
        if which < 0.7:
            payload["transactionId"] = ("own", connector - 1)
        elif which < 0.8:
            payload["transactionId"] = 99_999_999  # unknown: a notice
        elif which < 0.9:
            payload["connectorId"] = 0  # the station's own meter
        out.append((s, "meter", payload))
    return out


def _real(payload: dict[str, Any], tx: list[int]) -> dict[str, Any]:
    own = payload.get("transactionId")
    if isinstance(own, tuple):
        return {**payload, "transactionId": tx[own[1]]}
    return payload


def _side(prefix: str) -> tuple[list[int], dict[int, list[int]]]:
    ids, txs = [], {}
    clock = sessions.Clock(skew_limit_s=300, last_boot_at=None)
    for s in range(STATIONS):
        create_station(f"{prefix}-{s}", {})
        station_id = Station.get(Station.cpid == f"{prefix}-{s}").id
        ids.append(station_id)
        txs[station_id] = []
        for connector in (1, 2):
            payload = {"connectorId": connector, "idTag": f"T{s}", "meterStart": 1000,
                       "timestamp": _ocpp_time(T0)}
            session, _ = sessions.record_start(station_id, payload, "{}", T0, clock,
                                               "Accepted", [])
            txs[station_id].append(session.transaction_id)
    return ids, txs


def _snapshot(station_ids: list[int]) -> list[Any]:
    """Everything the reports wrote, per station in order, with ids made relative."""
    out = []
    for station_id in station_ids:
        st = Station.get_by_id(station_id)
        own = {s.id: i for i, s in enumerate(ChargingSession.select().where(
            ChargingSession.station == station_id).order_by(ChargingSession.id))}
        out.append((
            st.num_connectors,
            [(e.connector_id, e.status, e.error_code, e.info, e.charger_time, e.received_at)
             for e in StatusEvent.select().where(StatusEvent.station == station_id)
             .order_by(StatusEvent.id)],
            [(c.connector_id, c.status, c.error_code, c.info, c.status_at, c.updated_at)
             for c in Connector.select().where(Connector.station == station_id)
             .order_by(Connector.connector_id)],
            [(own[s.id], s.state, s.flags, s.first_register_wh, s.last_register_wh, s.power_w,
              s.energy_wh, s.updated_at)
             for s in ChargingSession.select().where(ChargingSession.station == station_id)
             .order_by(ChargingSession.id)],
            [(r.connector_id, own.get(r.session_id), r.timestamp, r.received_at, r.context,
              r.energy_wh, r.power_w, json.loads(r.sampled))
             for r in MeterReading.select().where(MeterReading.station_id == station_id)
             .order_by(MeterReading.id)],
            [(n.kind, json.loads(n.payload)) for n in StationNotice.select()
             .where(StationNotice.station == station_id).order_by(StationNotice.id)],
        ))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batches_write_what_one_by_one_writes(make_settings: Any, seed: int) -> None:
    database = open_database(make_settings())
    db = database.db

    def run() -> tuple[list[Any], list[Any]]:
        one_ids, one_tx = _side("ONE")
        many_ids, many_tx = _side("MANY")
        traffic = _traffic(seed)
        for s, kind, payload in traffic:
            station_id = one_ids[s]
            at = T0 + timedelta(minutes=1)
            with db.atomic():
                if kind == "status":
                    batched.record_status(station_id, payload, at)
                else:
                    batched.record_meter_values(station_id, _real(payload, one_tx[station_id]),
                                                 at)
        rng = random.Random(seed)
        pending = list(traffic)
        while pending:
            batch, seen, size = [], set(), rng.randint(1, STATIONS)
            for item in list(pending):  # in order; a station's next report waits its turn
                if len(batch) == size:
                    break
                if item[0] in seen:
                    continue
                seen.add(item[0])
                batch.append(item)
                pending.remove(item)
            at = T0 + timedelta(minutes=1)
            with db.atomic():
                statuses = [(many_ids[s], p, at) for s, kind, p in batch if kind == "status"]
                meters = [(many_ids[s], _real(p, many_tx[many_ids[s]]), at)
                          for s, kind, p in batch if kind == "meter"]
                if statuses:
                    batched.record_statuses(statuses)
                if meters:
                    assert [r[1] for r in auth.meter_values_many(meters)] == [False] * len(
                        meters)  # personal sessions: the watchdog never stops them
        # The writer's own row-to-session conversion gives what the ORM gives.
        for session in ChargingSession.select():
            fast = fastsql.select_session(f"{fastsql.col(ChargingSession.id)} = {{p}}",
                                         (session.id,))
            assert fast is not None and fast.__data__ == session.__data__
        return _snapshot(one_ids), _snapshot(many_ids)

    one, many = database.run_sync(run)
    db.close()
    assert sum(len(station[4]) for station in one) > 100  # the traffic did reach the tables
    assert any("meter_backwards" in s[2] for station in one for s in station[3])
    assert any(s[1] == "suspect" for station in one for s in station[3])
    assert many == one


async def test_one_bad_report_fails_alone(make_settings: Any) -> None:
    """A batch that fails as a whole (here a report of a station that does not exist breaks a
    foreign key) is written again one report at a time: the others are kept and answered."""
    database = open_database(make_settings())
    database.start()
    try:
        writer = ReportWriter(database)
        ids, _ = await database.run(_side, "W")
        status = {"connectorId": 1, "status": "Charging", "errorCode": "NoError"}
        outcomes = await asyncio.gather(
            *(writer.run(batched.record_status, station_id, status, T0,
                         many=batched.record_statuses) for station_id in ids[:2]),
            writer.run(batched.record_status, 987654, status, T0,
                       many=batched.record_statuses),
            writer.run(batched.record_status, ids[2], status, T0,
                       many=batched.record_statuses), return_exceptions=True)
        assert outcomes[:2] == [None, None] and outcomes[3] is None
        assert isinstance(outcomes[2], IntegrityError)
        written = await database.read(lambda: sorted(
            e.station_id for e in StatusEvent.select()))
        assert written == sorted(ids[:3])
    finally:
        database.stop()


async def test_a_failing_job_rolls_back_alone_in_a_batch(make_settings: Any) -> None:
    """Jobs queued behind a busy writer commit as one batch (on PostgreSQL first without a
    savepoint per job): one that writes then raises, and one that catches a failed statement's
    error and goes on, leave nothing of theirs and get their errors (PostgreSQL) or results
    (SQLite, where a failed statement does not fail the transaction); every other job's row is
    committed and answered."""
    import threading

    database = open_database(make_settings())
    pg = not database.is_sqlite
    database.run_sync(lambda: database.db.execute_sql(
        "CREATE TABLE batch_probe (id integer PRIMARY KEY, note text)"))
    database.db.close()
    database.start()
    gate = threading.Event()

    def insert(n: int, note: str = "") -> int:
        database.db.execute_sql("INSERT INTO batch_probe (id, note) VALUES (%s, %s)"
                                .replace("%s", database.db.param), (n, note))
        return n

    def raises(n: int) -> None:
        insert(n)
        raise ValueError("no")

    def swallows(n: int) -> str:
        insert(n, "swallowed")
        try:
            insert(1)  # taken by another job of the batch: a unique violation
        except IntegrityError:
            return "carried on"
        return "not reached"

    try:
        blocker = asyncio.ensure_future(database.run(gate.wait, 10))
        await asyncio.sleep(0.2)  # the writer holds the blocker: the rest queue as one batch
        jobs = [database.run(insert, n) for n in range(1, 11)]
        jobs[3:3] = [database.run(raises, 100)]
        jobs[7:7] = [database.run(swallows, 200)]
        pending = asyncio.gather(*jobs, return_exceptions=True)
        await asyncio.sleep(0.1)
        commits = database.commits
        gate.set()
        outcomes = await pending
        await blocker
        assert database.commits == commits + 2  # the blocker's batch, then all of these at once
        assert isinstance(outcomes[3], ValueError)
        if pg:  # PostgreSQL failed the statement's transaction: the job's savepoint went back
            assert outcomes[7] is not None and isinstance(outcomes[7], Exception)
            assert database.careful_reruns >= 1  # run optimistically first, then with savepoints
        else:
            assert outcomes[7] == "carried on"
        assert [o for i, o in enumerate(outcomes) if i not in (3, 7)] == list(range(1, 11))
        rows = await database.read(lambda: [tuple(r) for r in database.db.execute_sql(
            "SELECT id, note FROM batch_probe ORDER BY id").fetchall()])
        expected = [(n, "") for n in range(1, 11)] + ([] if pg else [(200, "swallowed")])
        assert rows == expected
    finally:
        database.stop()


def _echo(value: int) -> int:
    return value


async def test_an_open_site_s_reports_wait_for_each_other_a_closed_loop_s_do_not(
        make_settings: Any) -> None:
    """On an open site (many chargers, each reporting now and then) the writer's batch waits up
    to the hold after the last one began, and the reports meanwhile go with it (one commit),
    each answered with its own result; drain hands a waiting job over; a job of GATHER_MIN goes
    at once. Where few chargers send report after report (a closed loop), nothing waits."""
    database = open_database(make_settings())
    database.start()
    try:
        writer = ReportWriter(database, gap_s=3600.0, window_s=0.0)  # judged at every job
        assert await writer.run(_echo, 0, source=0) == 0  # no history yet: handed over at once
        commits = database.commits
        held = [asyncio.ensure_future(writer.run(_echo, n, source=n)) for n in (1, 2, 3)]
        await asyncio.sleep(0.05)  # turns of the loop: the job waits (an hour at most)
        assert writer.holding and writer.held_jobs == 1 and not any(f.done() for f in held)
        held.append(asyncio.ensure_future(writer.run(_echo, 4, source=4)))  # joins it
        await asyncio.sleep(0)
        await writer.drain()  # at shutdown nothing waits out the hold
        assert [f.result() for f in held] == [1, 2, 3, 4]
        assert database.commits == commits + 1
        # A job big enough goes at once, open site or not.
        big = [writer.run(_echo, n, source=n) for n in range(GATHER_MIN)]
        assert await asyncio.wait_for(asyncio.gather(*big), 60) == list(range(GATHER_MIN))

        closed = ReportWriter(database, gap_s=3600.0, window_s=0.0)
        await closed.run(_echo, 0, source="A")
        burst = [closed.run(_echo, n, source=("A", "B")[n % 2]) for n in range(12)]
        assert await asyncio.wait_for(asyncio.gather(*burst), 60) == list(range(12))
        assert not closed.holding  # six reports each from two chargers: a closed loop
        assert database.gather_s == 0.0  # and the writer no longer gathers
    finally:
        database.stop()


async def test_a_gathering_batch_takes_the_site_s_other_writes_too(make_settings: Any) -> None:
    """On an open site the database writer's batch waits for others: a job through
    `database.run` (a StartTransaction, an Authorize) handed over meanwhile goes in the same
    commit as the reports; a person's write (`run_first`) ends the wait at once."""
    database = open_database(make_settings())
    database.start()
    try:
        writer = ReportWriter(database, gap_s=3600.0, window_s=0.0)
        assert await writer.run(_echo, 0, source=0) == 0
        commits = database.commits
        reports = [asyncio.ensure_future(writer.run(_echo, n, source=n)) for n in (1, 2, 3)]
        await asyncio.sleep(0.05)
        assert database.gather_s == 3600.0
        other = asyncio.ensure_future(database.run(_echo, 9))
        await asyncio.sleep(0.05)
        assert not other.done() and not any(f.done() for f in reports)
        assert await asyncio.wait_for(database.run_first(_echo, 7), 10) == 7
        assert await asyncio.wait_for(other, 10) == 9
        assert [f.result() for f in reports] == [1, 2, 3]
        assert database.commits == commits + 2  # the gathered batch, then the person's
        assert database.gathered >= 1
    finally:
        database.stop()


async def test_held_reports_keep_their_guarantees(make_settings: Any) -> None:
    """With jobs waiting for each other (an open site), every report is still answered only
    after the commit of the batch that wrote it, a bad report fails alone, and each charger's
    reports (one at a time, each awaited, as OCPP-J has it) are written in its order."""
    database = open_database(make_settings())
    database.start()
    try:
        writer = ReportWriter(database, gap_s=0.5, window_s=0.0)
        ids, _ = await database.run(_side, "G")
        seen: list[tuple[int, int]] = []  # (commits when the report ran, when it was answered)

        def status(station_id: int, state: str) -> int:
            batched.record_status(station_id, {"connectorId": 1, "status": state,
                                               "errorCode": "NoError"}, T0)
            return database.commits

        def statuses(calls: list[tuple[Any, ...]]) -> list[int]:
            batched.record_statuses([(sid, {"connectorId": 1, "status": state,
                                            "errorCode": "NoError"}, T0)
                                     for sid, state in calls])
            return [database.commits] * len(calls)

        async def charger(station_id: int) -> list[Any]:
            out: list[Any] = []
            for state in STATUSES:
                try:
                    ran = await writer.run(status, station_id, state, many=statuses,
                                           source=station_id)
                    seen.append((ran, database.commits))
                    out.append(state)
                except IntegrityError as err:
                    out.append(err)
            return out

        results = await asyncio.gather(*(charger(sid) for sid in [*ids, 987654]))
        assert writer.held_jobs >= 1  # the site was judged open: jobs waited for each other
        assert results[:-1] == [list(STATUSES)] * len(ids)
        assert all(isinstance(r, IntegrityError) for r in results[-1])  # no such station
        assert len(seen) == len(ids) * len(STATUSES)
        assert all(answered > ran for ran, answered in seen)  # committed before answered
        written = await database.read(lambda: [(e.station_id, e.status) for e in
                                               StatusEvent.select().order_by(StatusEvent.id)])
        for sid in ids:
            assert [st for s, st in written if s == sid] == list(STATUSES)
    finally:
        database.stop()


async def test_liveness_writes_every_station_last_seen(make_settings: Any) -> None:
    database = open_database(make_settings())
    database.start()
    try:
        ids, _ = await database.run(_side, "L")
        liveness = Liveness(database)
        for n, station_id in enumerate(ids):
            liveness.touch(station_id, T0 + timedelta(seconds=n))
        liveness.touch(ids[0], T0 + timedelta(minutes=5))  # the newest touch wins
        await liveness.flush()
        seen = await database.read(lambda: {s.id: s.last_seen_at for s in Station.select()})
        assert seen == {ids[0]: T0 + timedelta(minutes=5),
                        **{i: T0 + timedelta(seconds=n) for n, i in enumerate(ids) if n}}
    finally:
        database.stop()


async def test_a_liveness_flush_hands_the_writer_small_jobs_one_after_another(
        make_settings: Any) -> None:
    """A big site's flush is several writer jobs, each of at most `job_rows` stations, so a
    person's write (`run_first`, committed before the jobs queued) waits behind one of them, not
    behind all of a site's stations; every station is written all the same."""
    database = open_database(make_settings())
    database.start()
    try:
        ids, _ = await database.run(_side, "J")
        ids = ids[:5]
        liveness = Liveness(database, job_rows=2)
        for n, station_id in enumerate(ids):
            liveness.touch(station_id, T0 + timedelta(seconds=n))
        before = database.jobs_done
        await liveness.flush()
        assert database.jobs_done - before == 3  # 2 + 2 + 1 stations
        seen = await database.read(lambda: {s.id: s.last_seen_at for s in Station.select()})
        assert all(seen[i] == T0 + timedelta(seconds=n) for n, i in enumerate(ids))
    finally:
        database.stop()


def test_evicting_a_pending_station_takes_its_loose_readings(make_settings: Any) -> None:
    """meter_reading has no foreign key to the station: the pending station that makes room
    for a newer one takes its readings (found through the partial index) with it."""
    database = open_database(make_settings())

    def run() -> tuple[list[str], int]:
        stations.admit_unknown("P-OLD", "pending", 1)
        old = Station.get(Station.cpid == "P-OLD").id
        batched.record_meter_values(old, {"connectorId": 0, "meterValue": [
            {"timestamp": _ocpp_time(T0), "sampledValue": [{"value": "10"}]}]}, T0)
        stations.admit_unknown("P-NEW", "pending", 1)
        return ([s.cpid for s in Station.select()],
                MeterReading.select().where(MeterReading.station_id == old).count())

    assert database.run_sync(run) == (["P-NEW"], 0)
    database.db.close()


class _Undo(Exception):
    """Rolls a savepoint back on purpose."""


@pytest.mark.parametrize("idle_fee", ["0", "12"])
def test_watchdog_many_judges_as_watchdog(make_settings: Any, idle_fee: str) -> None:
    """The batch watchdog stops exactly the sessions the one-by-one watchdog stops: drivers
    rich and poor, with and without an overdraft, several sessions on one account, a session
    with a hold, a personal card; with and without an idle fee (whose power samples only it
    reads)."""
    database = open_database(make_settings())
    db = database.db

    def run() -> tuple[list[bool], list[bool], list[Any]]:
        currency = "INR"
        tariff = tariffs.create_tariff({"name": "T", "energy_per_kwh": "20", "session_fee": "5",
                                        "idle_per_hour": idle_fee, "tax_rate": "0.18"},
                                       currency)
        tariffs.assign(tariff["id"], None, None)
        ids, _ = _side("WD")
        people = [("RICH", 10_000_000, None), ("POOR", 9_000, None), ("OWE", 100, 20_000),
                  ("PAIR", 30_000, None), ("MINE", 0, None)]
        for i, (name, balance, overdraft) in enumerate(people):
            driver = accounts.create_driver({"name": name, "phone": f"+91 90000 0000{i}",
                                             "overdraft": overdraft}, currency)
            mode = "personal" if name == "MINE" else "commercial"
            for n in range(2 if name == "PAIR" else 1):
                accounts.bind_card(driver["id"], f"{name}{n}", mode, None)
            if balance:
                accounts.topup(driver["id"], balance, "cash", "", f"topup:{name}", "test", "")
        clock = 300
        tags = ["RICH0", "POOR0", "OWE0", "PAIR0", "PAIR1", "MINE0"]
        txs = []
        for n, tag in enumerate(tags):
            payload = {"connectorId": 1 + n % 2, "idTag": tag, "meterStart": 1000,
                       "timestamp": _ocpp_time(T0)}
            tx, _ = auth.start_transaction(ids[n % STATIONS], payload, "{}", T0, clock, [])
            txs.append((ids[n % STATIONS], tx))
        pair = ChargingSession.get(ChargingSession.transaction_id == txs[4][1])
        hold = ledger.place_hold(pair.account_id, 2_000, "PAIR1")
        Hold.update(session=pair.id).where(Hold.id == hold.id).execute()
        verdicts_one, verdicts_many, seen = [], [], []
        rng = random.Random(7)
        for step in range(1, 8):
            at = T0 + timedelta(minutes=10 * step)
            for station_id, tx in txs:
                power = rng.choice((0, 100, 7200, 22000))
                batched.record_meter_values(station_id, {
                    "connectorId": 1, "transactionId": tx, "meterValue": [{
                        "timestamp": _ocpp_time(at), "sampledValue": [
                            {"value": str(1000 + step * rng.choice((200, 900, 3000)))},
                            {"value": str(power), "measurand": "Power.Active.Import"}]}]}, at)
            found = [ChargingSession.get(ChargingSession.transaction_id == tx) for _, tx in txs]
            checks = [(s, at) for s in found]
            for many in (False, True):
                try:
                    with db.atomic():
                        if many:
                            verdicts_many.extend(watch.watchdog_many(checks))
                        else:
                            verdicts_one.extend(watch.watchdog(s, t) for s, t in checks)
                        seen.append(sorted(s.id for s in ChargingSession.select().where(
                            ChargingSession.stop_requested != "")))
                        raise _Undo
                except _Undo:
                    pass
                for s in found:
                    s.stop_requested = ""
            # On reconnect (`watch`): the chargers' overdue stops asked together, as the report
            # writer hands a site's reconnections over, are those asked one by one.
            stations_all = sorted({st for st, _ in txs})
            lists = []
            for many in (False, True):
                try:
                    with db.atomic():
                        lists.append(
                            watch.overdue_stops_many([(st, at) for st in stations_all]) if many
                            else [watch.overdue_stops(st, at) for st in stations_all])
                        raise _Undo
                except _Undo:
                    pass
            overdue.append(lists)
        return verdicts_one, verdicts_many, seen

    overdue: list[list[Any]] = []
    one, many, seen = database.run_sync(run)
    db.close()
    assert all(by_one == by_many for by_one, by_many in overdue)
    assert any(any(lists[0]) for lists in overdue)  # some charger had a stop due
    assert many == one
    assert seen[::2] == seen[1::2]  # the same sessions marked to stop
    assert any(one) and not all(one)  # some ran out, some did not


def test_fetch_gives_what_the_orm_gives(make_settings: Any) -> None:
    """fastsql.fetch_in / select_in (one JSON row on SQLite) give what iterating the query gives."""
    database = open_database(make_settings())

    def run() -> None:
        _side("F")
        driver = accounts.create_driver({"name": "F", "phone": "+91 90000 00000",
                                         "overdraft": 2500}, "INR")
        accounts.topup(driver["id"], 12_345, "cash", "", "topup:f", "test", "")
        ledger.place_hold(accounts.account_of(driver["id"]).id, 700, "F1")
        for model in (ChargingSession, Station, Hold, Account, Driver):
            slow = sorted((m.__data__ for m in model.select()), key=repr)
            ids = [m["id"] for m in slow]
            fast = sorted((m.__data__ for m in fastsql.fetch_in(model, model.id, ids)), key=repr)
            assert fast == slow and slow, model
        slow_rows = sorted(list(r) for r in Hold.select(Hold.session, Hold.amount).tuples())
        fast_rows = sorted(fastsql.select_in(Hold, [Hold.session, Hold.amount], Hold.id,
                                            [h.id for h in Hold.select()]))
        assert fast_rows == slow_rows and slow_rows

    database.run_sync(run)
    database.db.close()


def test_save_writes_what_peewee_writes(make_settings: Any) -> None:
    """BaseModel.save (its SQL cached per model and columns) writes the rows, ids, row counts
    and dirty state that peewee's own Model.save writes, inserts and updates alike."""
    database = open_database(make_settings())

    def row(model: Any, pk: int) -> dict[str, Any]:
        data = dict(model.select().where(model.id == pk).dicts().get())
        data.pop("id")
        return data

    def run() -> None:
        at = datetime(2026, 11, 2, 9, 30, 15, 250000)
        made = []
        for save in (lambda m, **kw: m.save(**kw),
                     lambda m, **kw: peewee.Model.save(m, **kw)):  # ours, then peewee's
            tag = f"S{len(made)}"
            driver = Driver(name="Ünï \"quoted\"", group_tag=tag, overdraft_minor=None,
                            created_at=at)
            assert save(driver) == 1 and driver.id is not None and not driver._dirty
            account = Account(driver=driver, currency="INR", balance=-5)
            save(account, force_insert=True)
            assert account.id is not None and account.driver_id == driver.id
            # An update writes only what changed; nothing changed writes nothing.
            driver.blocked, driver.overdraft_minor, driver.note = True, 2_500, "x" * 300
            assert save(driver) == 1 and not driver._dirty
            assert save(driver) is False
            account.balance, account.updated_at = 10**15, at + timedelta(days=1)
            assert save(account) == 1
            # An update of a row that is gone counts no row, as peewee's does.
            ghost = Account(id=10**9, currency="EUR")
            ghost._dirty = {"currency"}
            assert save(ghost) == 0
            made.append((driver.id, account.id))
        (d1, a1), (d2, a2) = made
        assert {**row(Driver, d1), "group_tag": ""} == {**row(Driver, d2), "group_tag": ""}
        assert {**row(Account, a1), "driver": 0} == {**row(Account, a2), "driver": 0}
        assert row(Account, a1)["driver"] == d1 and row(Account, a2)["driver"] == d2

    database.run_sync(run)
    database.db.close()


def test_every_batch_size_is_written_with_a_few_statement_texts(make_settings: Any) -> None:
    """Reports of batches of every size, 1 to 70 stations (statuses, meter values, the frame
    log): the multi-row statements go in pieces of a power of two rows, so every size is written
    with a few texts (a text per row count was a parse per new size: at 10,000 chargers some
    600 a second, a tenth of the writer). Counted as the statement texts SQLite prepared."""
    database = open_database(make_settings())
    db = database.db
    if not fastsql.is_sqlite():
        pytest.skip("counts SQLite's prepared statements (apsw's statement cache)")

    def run() -> tuple[int, int]:
        for n in range(70):
            create_station(f"PC-{n:03d}", {})
        ids = [s.id for s in Station.select().where(Station.cpid.startswith("PC-"))]
        conn = db.connection()
        prepared: set[str] = set()

        def seen(_cursor: Any, statement: str, _bindings: Any) -> bool:
            prepared.add(statement)
            return True

        def batch(size: int, minute: int) -> None:
            at = T0 + timedelta(minutes=minute)
            with db.atomic():
                batched.record_statuses([(sid, {
                    "connectorId": 1, "status": "Available", "errorCode": "NoError",
                    "timestamp": _ocpp_time(at)}, at) for sid in ids[:size]])
                auth.meter_values_many([(sid, {"connectorId": 1, "meterValue": [
                    {"timestamp": _ocpp_time(at), "sampledValue": [{"value": str(minute)}]}]},
                    at) for sid in ids[:size]])
                frame_log.write_frames([(sid, at, 2, "[]") for sid in ids[:size]], 4,
                                       set(ids[:size]))

        batch(70, 0)  # every statement's first use
        conn.exec_trace = seen
        try:
            for size in range(1, 71):
                batch(size, size)
        finally:
            conn.exec_trace = None
        return len(prepared), MeterReading.select().count()

    texts, readings = database.run_sync(run)
    db.close()
    assert readings == 70 + sum(range(1, 71))
    # Per kind of statement a text per power of two (1..64 here), a few others; before: one
    # per batch size and kind (over 200).
    assert texts < 60, f"{texts} statement texts for 70 batch sizes"


def test_boots_in_a_batch_write_what_one_by_one_writes(make_settings: Any) -> None:
    """BootNotifications of many chargers in one batch (`record_boot_many`, as the report writer
    hands a boot storm over): the same answers and rows as one by one, a station that booted
    twice keeping the later identity, an unapproved one Pending, open sessions made suspect."""
    database = open_database(make_settings())

    def boots(ids: list[int]) -> list[tuple[int, dict[str, Any], datetime]]:
        at = T0 + timedelta(minutes=3)
        out = [(sid, {"chargePointVendor": f"V{n}", "chargePointModel": "M",
                      "firmwareVersion": f"1.{n}", **({"iccid": "89"} if n % 2 else {})},
                at + timedelta(seconds=n)) for n, sid in enumerate(ids)]
        out.append((ids[1], {"chargePointVendor": "V1-again", "chargePointModel": "M2"},
                    at + timedelta(seconds=30)))
        return out

    def stations_of(ids: list[int]) -> list[Any]:
        fields = [attr for attr, _ in stations.BOOT_FIELDS]
        return [(tuple(getattr(st, f) for f in fields), st.registration, st.last_boot_at,
                 st.last_seen_at, st.online) for st in (Station.get_by_id(i) for i in ids)]

    def run() -> tuple[Any, Any]:
        one_ids, _ = _side("ONE")
        many_ids, _ = _side("MANY")
        for ids in (one_ids, many_ids):
            Station.update(approved=False).where(Station.id == ids[2]).execute()
        one = [stations.record_boot(*boot) for boot in boots(one_ids)]
        many = stations.record_boot_many(boots(many_ids))
        return ((one, stations_of(one_ids), _snapshot(one_ids)),
                (many, stations_of(many_ids), _snapshot(many_ids)))

    one, many = database.run_sync(run)
    database.db.close()
    assert one[0][2] == ("Pending", False) and one[0][1] == ("Accepted", True)
    assert one[1][1][0][0] == "V1-again"
    assert all(s[1] == "suspect" for station in one[2] for s in station[3])
    assert many == one
    with pytest.raises(Station.DoesNotExist):
        database.run_sync(stations.record_boot_many, [(10**6, {}, T0)])
    database.db.close()
