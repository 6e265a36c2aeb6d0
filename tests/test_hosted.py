"""Issue 22, the hosted option: three real `appliance serve` processes on one PostgreSQL behind
Debian's HAProxy on 127.0.0.1. A command reaches a charger another process holds; money written
through one process is what another reads; kill -9 of the charger's process during a session
and a top-up loses nothing and charges once; the leader's death moves the nightly job.
PostgreSQL only (a SQLite box has one process)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.charger import ClientTransport, SimCharger
from tests.conftest import basic_auth
from tests.pg import backend
from tests.proc import ApplianceProcess, cli, free_port

pytestmark = [
    pytest.mark.allow_loop_stall,  # the processes run beside the test's loop
    pytest.mark.skipif(backend() != "postgresql", reason="many processes need PostgreSQL"),
    pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed"),
]

CPID, PASSWORD = "HOST-1", "pw-hosted-1"


class LoggedProcess(ApplianceProcess):
    """An `appliance serve` whose output goes to a file (a pipe nobody reads would fill)."""

    async def start(self) -> None:
        env = {**os.environ, "APPLIANCE_ADMIN_PASSWORD": "a-test-password"}
        self.log = self.data_dir.with_suffix(".log")
        with self.log.open("a") as out:  # the child keeps its own copy
            self.proc = subprocess.Popen(  # type: ignore[call-overload]
                [sys.executable, "-m", "appliance", "serve", "--data-dir", str(self.data_dir),
                 "--host", "127.0.0.1", "--port", str(self.port),
                 "--tls-port", str(free_port())],
                env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        for _ in range(600):
            with contextlib.suppress(aiohttp.ClientError, OSError):
                if (await self.health())["status"] == "ok":
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"appliance exited: {self.log.read_text()[-3000:]}")
            await asyncio.sleep(0.05)
        raise RuntimeError("appliance did not start")

    async def health(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as session, \
                session.get(self.base + "/healthz") as resp:
            return dict(await resp.json())

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=20)
        self.proc = None
        return code


HAPROXY_CFG = """\
global
    maxconn 2000
defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    option redispatch
    retries 3
frontend chargers_and_pages
    bind 127.0.0.1:{port}
    default_backend appliances
backend appliances
    balance leastconn
    option httpchk GET /healthz
    default-server inter 300ms fall 2 rise 1
{servers}
"""


@contextlib.contextmanager
def haproxy(tmp: Path, ports: list[int]) -> Iterator[int]:
    port = free_port()
    servers = "\n".join(f"    server p{i} 127.0.0.1:{p} check" for i, p in enumerate(ports))
    cfg = tmp / "haproxy.cfg"
    cfg.write_text(HAPROXY_CFG.format(port=port, servers=servers))
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _api(base: str, token: str, method: str, path: str, body: Any = None,
               expect: int | None = None, headers: dict[str, str] | None = None) -> Any:
    async with aiohttp.ClientSession() as session, session.request(
            method, base + "/api/v1" + path, json=body,
            headers={"Authorization": f"Bearer {token}", **(headers or {})}) as resp:
        text = await resp.text()
        if expect is not None:
            assert resp.status == expect, text
        else:
            assert resp.status < 300, text
        return await resp.json() if text else None


@contextlib.asynccontextmanager
async def _charger(port: int) -> AsyncIterator[SimCharger]:
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"ws://127.0.0.1:{port}/ocpp/{CPID}",
                                      protocols=("ocpp1.6",),
                                      headers={"Authorization": basic_auth(CPID, PASSWORD)})
        cp = SimCharger(CPID, ClientTransport(ws))
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await task
            await ws.close()


async def _until(check: Any, timeout: float = 20.0) -> Any:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(aiohttp.ClientError, OSError, AssertionError):
            result = await check()
            if result:
                return result
        if time.monotonic() > deadline:
            raise AssertionError("not in time")
        await asyncio.sleep(0.2)


async def _holder(procs: list[LoggedProcess]) -> LoggedProcess | None:
    for p in procs:
        if p.proc is not None and (await p.health())["chargers"] == 1:
            return p
    return None


async def _leaders(procs: list[LoggedProcess]) -> list[LoggedProcess]:
    return [p for p in procs if p.proc is not None and (await p.health())["leader"]]


async def test_three_processes_behind_haproxy(tmp_path: Path) -> None:
    procs = [LoggedProcess(tmp_path / f"p{i}", free_port()) for i in range(3)]
    await procs[0].start()  # the first migrates; the others find the schema made
    await asyncio.gather(*(p.start() for p in procs[1:]))
    token = cli(procs[0].data_dir, "token", "create", "--name", "t").strip()
    try:
        with haproxy(tmp_path, [p.port for p in procs]) as lb:
            front = f"http://127.0.0.1:{lb}"
            await _until(lambda: _api(front, token, "GET", "/stations"))
            await _api(front, token, "POST", "/stations", {"id": CPID, "password": PASSWORD})
            await _api(front, token, "POST", "/stations", {"id": "HOST-OFF",
                                                           "password": PASSWORD})
            tariff = await _api(front, token, "POST", "/tariffs",
                                {"name": "t", "energy_per_kwh": "10"})
            await _api(front, token, "POST", f"/tariffs/{tariff['id']}/assignments", {})
            driver = await _api(front, token, "POST", "/drivers", {"name": "Kay"})
            await _api(front, token, "POST", f"/drivers/{driver['id']}/cards",
                       {"id_tag": "HOSTCARD", "mode": "commercial"})
            await _api(front, token, "POST", f"/drivers/{driver['id']}/topups",
                       {"amount": 100_000, "method": "cash"})

            async with _charger(lb) as cp:
                await cp.boot()
                holder = await _until(lambda: _holder(procs))
                others = [p for p in procs if p is not holder]
                # A command through another process reaches the charger, answers come back;
                # the rules of a local command hold (409 for a charger nobody holds).
                for p in others:
                    answer = await _api(p.base, token, "POST",
                                        f"/stations/{CPID}/ocpp/ChangeConfiguration",
                                        {"key": "HeartbeatInterval", "value": "77"})
                    assert answer == {"status": "Accepted"}
                    got = await _api(p.base, token, "POST",
                                     f"/stations/{CPID}/ocpp/GetConfiguration",
                                     {"key": ["HeartbeatInterval"]})
                    assert got["configurationKey"][0]["value"] == "77"
                    await _api(p.base, token, "POST", "/stations/HOST-OFF/ocpp/ClearCache",
                               {}, expect=409)
                assert cp.configuration["HeartbeatInterval"] == "77"
                # Money written through one process is what another reads at once.
                await _api(others[0].base, token, "POST", f"/drivers/{driver['id']}/topups",
                           {"amount": 5_000, "method": "cash"})
                seen = await _api(others[1].base, token, "GET", f"/drivers/{driver['id']}")
                assert seen["account"]["balance"]["amount"] == 105_000, seen

                started = await cp.start_tx(1, "HOSTCARD", meter_start=0)
                await cp.meter(1, started.transaction_id, 700)
                # kill -9 the charger's process while a top-up goes through the balancer.
                topup = asyncio.create_task(_api(
                    front, token, "POST", f"/drivers/{driver['id']}/topups",
                    {"amount": 2_000, "method": "cash"}, expect=None,
                    headers={"Idempotency-Key": "hosted-kill-1"}))
                await asyncio.sleep(0.01)
                holder.kill(signal.SIGKILL)
                with contextlib.suppress(Exception):
                    await topup
            # The charger reconnects through HAProxy to a live process and carries on.
            async with _charger(lb) as cp:
                new_holder = await _until(lambda: _holder(procs))
                assert new_holder is not holder
                await cp.meter(1, started.transaction_id, 1200)
                await cp.stop(started.transaction_id, meter_stop=1500)
                await cp.stop(started.transaction_id, meter_stop=1500)  # a retried stop
            ledger = (await _api(front, token, "GET",
                                 f"/drivers/{driver['id']}/ledger"))["items"]
            # The driver's balance is the operator's: site B's own token, on any process,
            # reads at once what site A's charge left, and nothing of site A's charger.
            site_b = await _api(front, token, "POST", "/sites", {"site_name": "Site B"})
            token_b = cli(procs[0].data_dir, "token", "create", "--name", "b", "--site",
                          str(site_b["id"])).strip()
            for p in procs:
                if p.proc is not None:
                    seen = await _api(p.base, token_b, "GET", f"/drivers/{driver['id']}")
                    assert (seen["account"]["balance"]["amount"]
                            == ledger[-1]["balance_after"]["amount"]), seen
                    await _api(p.base, token_b, "GET", f"/stations/{CPID}", expect=404)
            charges = [r for r in ledger if r["kind"] == "charge"]
            assert [r["amount"]["amount"] for r in charges] == [-1500]
            topups = [r["amount"]["amount"] for r in ledger if r["kind"] == "topup"]
            assert topups in ([100_000, 5_000], [100_000, 5_000, 2_000]), topups
            assert ledger[-1]["balance_after"]["amount"] == sum(topups) - 1500

            # The leader's death moves the nightly job to another process.
            survivors = [p for p in procs if p.proc is not None]
            leaders = await _until(lambda: _leaders(survivors))
            assert len(leaders) == 1
            leaders[0].kill(signal.SIGKILL)
            last = [p for p in survivors if p.proc is not None]
            assert len(await _until(lambda: _leaders(last))) == 1
            await _until(lambda: _ran_nightly(last[0]))
    finally:
        for p in procs:
            if p.proc is not None:
                p.kill(signal.SIGTERM)
    check = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "appliance", "check", "--data-dir",
                         str(procs[0].data_dir)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "0 sessions charged more than once" in check.stdout


async def _ran_nightly(proc: LoggedProcess) -> bool:
    return "leader: nightly work runs on this process" in proc.log.read_text()


async def test_a_deadlock_between_two_processes_runs_the_batch_again(pg_url: str) -> None:
    """Two writers (two processes' writer threads) take two rows in opposite orders: PostgreSQL
    kills one transaction as a deadlock; `database.run` runs its whole batch again from fresh
    rows, so both callers get their answer and both increments count."""
    import threading

    from appliance.db.database import Database

    first, second = Database(pg_url), Database(pg_url)
    first.run_sync(lambda: first.db.execute_sql(
        "CREATE TABLE t (id int PRIMARY KEY, n int); INSERT INTO t VALUES (1, 0), (2, 0)"))
    first.db.close()
    barrier = threading.Barrier(2, timeout=10)
    calls: list[str] = []

    def job(db: Database, name: str, order: tuple[int, int]) -> str:
        calls.append(name)
        db.db.execute_sql("UPDATE t SET n = n + 1 WHERE id = %s", (order[0],))
        if calls.count(name) == 1:  # the first attempt meets the other writer half way
            barrier.wait()
        db.db.execute_sql("UPDATE t SET n = n + 1 WHERE id = %s", (order[1],))
        return name

    first.start()
    second.start()
    try:
        answers = await asyncio.gather(first.run(job, first, "a", (1, 2)),
                                       second.run(job, second, "b", (2, 1)))
        assert answers == ["a", "b"]
        assert first.retries + second.retries >= 1 and len(calls) >= 3
        rows = await first.read(lambda: first.db.execute_sql(
            "SELECT id, n FROM t ORDER BY id").fetchall())
        assert [tuple(r) for r in rows] == [(1, 2), (2, 2)]
    finally:
        first.stop()
        second.stop()


async def test_live_events_and_commands_cross_processes(make_settings: Any) -> None:
    """Two nodes (as two processes have) on one database: an event published on one reaches
    the other's subscribers once, the desk reader's stay home; a command for a charger the
    other holds is answered there, and its errors come back as the same errors."""
    from appliance import events
    from appliance.app import open_database
    from appliance.charging.control import TransactionStatus, Trigger
    from appliance.cluster.control import RoutedControl
    from appliance.cluster.node import Node
    from appliance.errors import ChargerCallError, ChargerOffline

    settings = make_settings()
    database = await asyncio.to_thread(open_database, settings)
    database.start()

    class Local:  # the far process's hub: one charger, which refuses resets
        def is_online(self, cpid: str) -> bool:
            return cpid.upper() == "FAR-1"

        async def trigger(self, cpid: str, message: Trigger,
                          connector_id: int | None = None) -> str:
            return f"Accepted {message.value} {connector_id}"

        async def reset(self, cpid: str, hard: bool) -> str:
            raise ChargerCallError("the charger answered NotSupported", details={"hard": hard})

        async def reserve(self, cpid: str, connector_id: int, id_tag: str, expiry: datetime,
                          reservation_id: int) -> str:
            return f"Accepted {expiry.isoformat()} {reservation_id}"

        async def transaction_status(self, cpid: str, transaction_id: int | None = None
                                     ) -> TransactionStatus:
            return TransactionStatus(ongoing=transaction_id == 7, messages_in_queue=False)

    a = Node(settings.db_url, database, events.EventBus(), 2.0)
    b = Node(settings.db_url, database, events.EventBus(), 2.0)
    b.local = Local()
    try:
        async with a.running(), b.running(), a.bus.subscribe() as heard:
            b.bus.publish(events.ReaderState("desk", True))  # the desk reader is b's alone
            b.bus.publish(events.StationOnline("FAR-1", True))
            got = await asyncio.wait_for(heard.get(), 5)
            assert isinstance(got, events.StationOnline)
            assert (got.station_id, got.online) == ("FAR-1", True)
            assert heard.empty() and a.holder("far-1") == b.process
            control = RoutedControl(type("Nobody", (), {"is_online": lambda s, c: False})(), a)
            assert control.is_online("FAR-1")
            assert await control.trigger("FAR-1", Trigger.STATUS, 2) == "Accepted status 2"
            # Every verb of the port crosses, times and the port's own answers included.
            expiry = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)
            assert (await control.reserve("FAR-1", 1, "CARD", expiry, 3)
                    == f"Accepted {expiry.isoformat()} 3")
            assert await control.transaction_status("FAR-1", 7) == TransactionStatus(True, False)
            with pytest.raises(ChargerCallError) as refused:
                await control.reset("FAR-1", True)
            assert refused.value.details == {"hard": True}
            with pytest.raises(ChargerOffline):
                await control.reset("NOBODY-9", False)
    finally:
        await asyncio.to_thread(database.stop)


async def test_the_nightly_work_follows_the_leader_lock(make_settings: Any) -> None:
    """The leader's connection dies (as with its process): it stops its nightly scheduler while
    another holds the lock, and starts a fresh one when it takes the lock again."""
    import psycopg

    from appliance import events
    from appliance.app import open_database
    from appliance.cluster.node import Node
    from appliance.db.maintenance import LEADER_LOCK
    from appliance.reports.scheduler import NightlyScheduler, _follow_leader

    settings = make_settings()
    database = await asyncio.to_thread(open_database, settings)
    database.start()
    node = Node(settings.db_url, database, events.EventBus(), 2.0)
    nightly = NightlyScheduler(database, settings)
    try:
        async with node.running():
            follow = asyncio.create_task(_follow_leader(node, nightly))

            async def leading() -> bool:
                return node.is_leader and nightly.running
            await _until(leading)
            assert node._leader_conn is not None
            victim = node._leader_conn.info.backend_pid
            other = await psycopg.AsyncConnection.connect(settings.db_url, autocommit=True)
            await other.execute("SELECT pg_terminate_backend(%s)", (victim,))
            await other.execute("SELECT pg_advisory_lock(%s)", (LEADER_LOCK,))

            async def stopped() -> bool:
                return not node.is_leader and not nightly.running
            await _until(stopped)
            await other.close()  # the other "process" dies: the lock comes back
            await _until(leading)
            assert nightly.scheduler.get_job("catch-up") is not None
            follow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follow
    finally:
        if nightly.running:
            await nightly.stop()
        await asyncio.to_thread(database.stop)
