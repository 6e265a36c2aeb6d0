#!/usr/bin/env python3
"""Load benchmark for the appliance's OCPP 1.6J endpoint: many simulated chargers, from several
processes, speaking pre-built OCPP-J frames over aiohttp client WebSockets (no `ocpp` library on
this side, so the generator stays cheap), against an appliance this script starts itself on
127.0.0.1 (or a running one given with --url).

Scenarios (run in this order with --scenario all, the default):
  boot        all chargers connect at once, send BootNotification and two StatusNotifications.
  steady      a site at work: every charger sends MeterValues for its two connectors every
              --interval seconds, a Heartbeat every second interval, and runs Authorize /
              StartTransaction / StatusNotification Charging ... StopTransaction /
              StatusNotification Available cycles of --cycle intervals on both connectors,
              with known tags (two per charger, registered through the API).
  saturation  every charger sends its next message as soon as the answer to the last one came
              (MeterValues in a transaction, Heartbeat, StatusNotification), for --duration s.
  noisy       a noisy neighbour: every charger sends MeterValues every --noisy-interval s (and
              a Heartbeat every --heartbeat-every of them) for --duration s; the first third
              settles, in the last third one more charger floods Heartbeats without waiting for
              answers. The steady chargers' latency alone (second third) and beside the flooder
              (last third), in the same run; --noisy-runs runs, their median and spread (not
              part of "all").

Per scenario it prints: messages per second answered, latency p50/p95/p99/max, errors
(CALLERRORs, timeouts, refused or dropped connections, rejected boots or tags), the server's RSS
and RSS per connected charger (from /proc/PID/status), the server's CPU and the generator's CPU.
Run by hand (see bench/README.md); it is not part of the test suite.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import base64
import contextlib
import itertools
import json
import multiprocessing as mp
import os
import platform
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

SCENARIOS = ("boot", "steady", "saturation")
# The yardsticks of bench/reference.py: on uvloop as the appliance, or asyncio's own loop
BARE_TARGETS = ("reference", "echo", "reference-asyncio", "echo-asyncio")
NOISY = "noisy"
# cost: one kind of message at a time, as fast as answered; the server's CPU per answer
COST_KINDS = ("cost-heartbeat", "cost-status", "cost-meter", "cost-startstop")
COST = "cost"
MONEY = "money"  # the steady site, and a probe timing money paths and pages (bench/money.py)
FLOOD_RATE = 5000  # Heartbeats a second the flooder sends (it never waits for an answer)
PASSWORD = "bench-pass-0001"
CLK_TCK = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parent.parent
SERVER_CPUS: list[str] = []  # --one-core: the servers run under `taskset -c 0`


def pinned(cmd: list[str]) -> list[str]:
    return ["taskset", "-c", ",".join(SERVER_CPUS), *cmd] if SERVER_CPUS else cmd


# --- the server ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _stat_cpu_s(path: str) -> float | None:
    """User + system CPU seconds from a /proc stat file (a process's or one thread's)."""
    try:
        stat = Path(path).read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads)."""
    return _stat_cpu_s(f"/proc/{pid}/stat")


def thread_cpu_s(pid: int, tid: int) -> float | None:
    """User + system CPU seconds of one thread of a process (the main thread: tid == pid, the
    appliance's event loop)."""
    return _stat_cpu_s(f"/proc/{pid}/task/{tid}/stat")


class Appliance:
    """An appliance started by this script: `python -m appliance serve` on a temporary data dir,
    from this work tree or from another one (--before-root, for before/after figures)."""

    name = "appliance"

    def __init__(self, python: str, keep: bool, root: Path = ROOT,
                 database_url: str | None = None) -> None:
        self.python, self.keep, self.root = python, keep, root
        self.data_dir = Path(tempfile.mkdtemp(prefix="appliance-bench-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.data_dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = {**os.environ, "APPLIANCE_ADMIN_PASSWORD": "bench-admin-password",
                    "PYTHONPATH": str(root)}
        self.env.pop("APPLIANCE_CONFIG", None)
        self.extra: list[str] = ["--tls-port", "0"]  # two side by side: no TLS port
        self.token_name = "bench"
        self.seed_ids: list[str] = []  # --setup seed: the site written before it serves
        if database_url:  # e.g. an empty PostgreSQL database; default: SQLite in the data dir
            self.env["APPLIANCE_DATABASE_URL"] = database_url

    def create_token(self) -> str:
        """An API token for the bench, made by the appliance's own command line."""
        made = subprocess.run(
            [self.python, "-m", "appliance", "token", "create", "--name", self.token_name,
             "--data-dir", str(self.data_dir)],
            capture_output=True, text=True, env=self.env, cwd=self.root, check=False)
        if made.returncode != 0:
            raise SystemExit(f"could not create an API token:\n{made.stdout}{made.stderr}")
        return made.stdout.strip().splitlines()[-1]

    def start(self) -> str:
        """Create an API token, seed the site when asked (`seed_ids`), then serve; returns the
        token."""
        token = self.create_token()
        if self.seed_ids:
            self.seed(self.seed_ids)
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            pinned([self.python, "-m", "appliance", "serve", "--data-dir", str(self.data_dir),
                    "--host", "127.0.0.1", "--port", str(self.port), *self.extra]),
            stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.root)
        self._wait_listening()
        return token

    def seed(self, ids: list[str]) -> None:
        """The bench site straight into the database, by bench/seed.py with this tree's code."""
        t0 = time.monotonic()
        made = subprocess.run(
            [self.python, str(ROOT / "bench" / "seed.py"), "--data-dir", str(self.data_dir)],
            input=json.dumps(ids), capture_output=True, text=True, env=self.env, cwd=self.root,
            check=False)
        if made.returncode != 0:
            raise SystemExit(f"could not seed the site:\n{made.stdout}{made.stderr}")
        print(f"set-up of {self.name}: {len(ids)} stations (Basic auth, not managed), a site "
              f"tariff, {len(ids)} drivers with balances and {2 * len(ids)} commercial cards "
              f"seeded into the database before it served in {time.monotonic() - t0:.1f} s")

    def _wait_listening(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"the appliance stopped at start:\n{self.log_path.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the appliance did not listen within 30 s") from None
                time.sleep(0.1)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def db_cpu_s(self) -> float | None:
        """CPU seconds of a database server beside the appliance (the -pg targets)."""
        return None

    def log_counts(self) -> dict[str, int]:
        counts = {"ERROR": 0, "WARNING": 0}
        with contextlib.suppress(OSError):
            for line in self.log_path.read_text(errors="replace").splitlines():
                for level in counts:
                    if f" {level} " in line or line.startswith(level):
                        counts[level] += 1
        return counts


HAPROXY_CFG = """\
global
    maxconn 9000
defaults
    mode http
    maxconn 9000
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout tunnel 1h
    option redispatch
    retries 3
frontend bench
    bind 127.0.0.1:{port}
    default_backend appliances
backend appliances
    balance leastconn
    option httpchk GET /healthz
    default-server inter 1s fall 3 rise 1 maxconn 9000
{servers}
"""


class Hosted(Appliance):
    """`hostedN`: N appliance processes on one fresh PostgreSQL database (made on the server of
    --database-url, dropped at the end) behind Debian's HAProxy on 127.0.0.1, as the README's
    hosted set-up. The figures are the whole installation's, seen through the balancer."""

    def __init__(self, python: str, keep: bool, root: Path, database_url: str | None,
                 processes: int) -> None:
        if not database_url or not database_url.startswith("postgres"):
            raise SystemExit("hosted targets need --database-url postgresql://... (a server "
                             "where the bench may create and drop a database)")
        if shutil.which("haproxy") is None:
            raise SystemExit("hosted targets need haproxy (apt-get install -y haproxy)")
        import psycopg

        self.admin_url = database_url
        self.db_name = f"bench_hosted{processes}_{os.getpid()}_{random.randrange(10**6)}"
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        url = database_url.rsplit("/", 1)[0] + "/" + self.db_name
        super().__init__(python, keep, root, url)
        self.name = f"hosted{processes}"
        self.members = [Appliance(python, keep, root, url) for _ in range(processes)]
        for i, member in enumerate(self.members):
            member.extra = ["--tls-port", "0"]  # behind the balancer: no TLS port each
            member.token_name = f"bench-{i}"
        self.haproxy: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        try:
            token = self.members[0].start()  # the first migrates; the others find the schema
            for member in self.members[1:]:
                member.start()
        except BaseException:
            self.stop()  # no process left behind
            raise
        servers = "\n".join(f"    server p{i} 127.0.0.1:{m.port} check"
                             for i, m in enumerate(self.members))
        cfg = self.data_dir / "haproxy.cfg"
        cfg.write_text(HAPROXY_CFG.format(port=self.port, servers=servers))
        log = self.log_path.open("wb")
        self.haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stdout=log,
                                        stderr=subprocess.STDOUT)
        self.proc = self.haproxy
        self._wait_listening()
        time.sleep(2.0)  # the first health checks mark every process up
        return token

    @property
    def pid(self) -> int | None:
        return None  # RSS and CPU belong to several processes: not reported

    def stop(self) -> None:
        for member in self.members:
            member.stop()
        if self.haproxy is not None and self.haproxy.poll() is None:
            self.haproxy.terminate()
            self.haproxy.wait(10)
        import psycopg

        with contextlib.suppress(Exception), psycopg.connect(self.admin_url,
                                                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        if not self.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def log_counts(self) -> dict[str, int]:
        counts = {"ERROR": 0, "WARNING": 0}
        for member in self.members:
            for level, n in member.log_counts().items():
                counts[level] += n
        return counts


class PgCluster:
    """A throwaway PostgreSQL cluster for the `-pg` targets when no --database-url is given:
    Debian's initdb and pg_ctl (as the `postgres` user when we are root) on a free 127.0.0.1
    port, with PostgreSQL's DEFAULT durability (fsync=on, synchronous_commit=on,
    full_page_writes=on), unlike the test suite's fsync-off cluster: a commit waits for its
    disk sync, as SQLite's WAL with synchronous=FULL does. Removed at the end."""

    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        on_path = shutil.which("initdb")
        if on_path:
            self.bindir = Path(on_path).parent
        elif found:
            self.bindir = found[-1].parent
        else:
            raise SystemExit("the -pg targets need --database-url or PostgreSQL's initdb")
        self.root = Path(tempfile.mkdtemp(prefix="appliance-bench-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        data = self.root / "data"
        self._run([str(self.bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A",
                   "trust", "-E", "UTF8", "--locale=C.UTF-8"])
        self._run([str(self.bindir / "pg_ctl"), "-D", str(data), "-w", "-t", "60", "-l",
                   str(self.root / "server.log"), "-o",
                   f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c max_connections=200", "start"])
        pidfile = (data / "postmaster.pid").read_text().split()
        self.pid = int(pidfile[0])
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            settings = {name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                        for name in ("fsync", "synchronous_commit", "full_page_writes",
                                     "wal_sync_method", "server_version")}
        print("PostgreSQL cluster for the -pg targets: "
              + ", ".join(f"{k}={v}" for k, v in settings.items()))

    @staticmethod
    def _as_owner(argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def _run(self, argv: list[str]) -> None:
        out = subprocess.run(self._as_owner(argv), capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise SystemExit(f"{argv[0]} failed: {out.stdout}{out.stderr}")

    def cpu_s(self) -> float:
        """CPU seconds of the postmaster and its children (the backends serving the bench)."""
        total = proc_cpu_s(self.pid) or 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.pid:
                    total += (int(fields[11]) + int(fields[12])) / CLK_TCK
        return total

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(self._as_owner([str(self.bindir / "pg_ctl"), "-D",
                                           str(self.root / "data"), "-m", "fast", "-w",
                                           "stop"]), capture_output=True, timeout=60,
                           check=False)
        shutil.rmtree(self.root, ignore_errors=True)


PG_CLUSTER: list[PgCluster] = []  # the one the -pg targets share, when this script made it


class PgAppliance(Appliance):
    """`appliance-pg` (and `before-pg`): the single appliance process, as `appliance`, on a
    fresh PostgreSQL database (made on the server of --database-url, or on a throwaway cluster
    with default durability that this script starts; dropped at the end), so that PostgreSQL
    and SQLite are measured in the same run (issue 24, goal 5)."""

    def __init__(self, python: str, keep: bool, root: Path, database_url: str | None,
                 name: str) -> None:
        import psycopg

        if database_url:
            self.admin_url = database_url
            self.cluster = None
        else:
            if not PG_CLUSTER:
                PG_CLUSTER.append(PgCluster())
            self.cluster = PG_CLUSTER[0]
            self.admin_url = self.cluster.url
        self.db_name = f"bench_{name.replace('-', '_')}_{os.getpid()}_{random.randrange(10**6)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        super().__init__(python, keep, root, self.admin_url.rsplit("/", 1)[0] + "/"
                         + self.db_name)
        self.name = name

    def db_cpu_s(self) -> float | None:
        return self.cluster.cpu_s() if self.cluster is not None else None

    def stop(self) -> None:
        super().stop()
        import psycopg

        with contextlib.suppress(Exception), psycopg.connect(self.admin_url,
                                                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')


class BareServer(Appliance):
    """bench/reference.py in one of its modes: the bare library central system or the raw
    aiohttp echo. No data dir to speak of, no token, no stations to register."""

    def __init__(self, python: str, mode: str) -> None:
        super().__init__(python, keep=False)
        self.name = mode

    def start(self) -> str:
        log = self.log_path.open("wb")
        mode, _, loop = self.name.partition("-")  # e.g. reference-asyncio: on asyncio's loop
        self.proc = subprocess.Popen(
            pinned([self.python, str(ROOT / "bench" / "reference.py"), "--mode", mode,
                    "--port", str(self.port), "--loop", loop or "uvloop"]),
            stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT)
        self._wait_listening()
        return ""


BENCH_TARIFF = {"name": "Bench", "energy_per_kwh": "18.50", "session_fee": "5.00",
                "tax_rate": "0.18", "prices_include_tax": True}
BALANCE_MINOR = 10_000_000  # a driver's top-up (the site's cap on one): enough for any run


async def setup_site(url: str, token: str, ids: list[str], tags: list[str]) -> None:
    """Register the stations (Basic auth password, not managed: a bench owns its configuration)
    and a money site through the JSON API: a site tariff, and per charger a driver with a
    balance and its two tags as commercial cards, so every session is priced while it runs
    (the running-out watchdog on each MeterValues) and charged when it stops. Existing
    stations, tariffs and cards (409) are fine."""
    headers = {"Authorization": f"Bearer {token}"}
    limit = asyncio.Semaphore(32)
    async with aiohttp.ClientSession(headers=headers) as session:
        async def post(path: str, body: dict[str, Any]) -> Any:
            async with limit, session.post(url + "/api/v1" + path, json=body) as resp:
                if resp.status not in (200, 201, 409):
                    raise SystemExit(f"POST {path} {body}: {resp.status} {await resp.text()}")
                return await resp.json() if resp.status in (200, 201) else None

        tariff = await post("/tariffs", BENCH_TARIFF)
        if tariff is not None:
            await post(f"/tariffs/{tariff['id']}/assignments", {"station_id": None})
        await asyncio.gather(*(post("/stations", {"id": cpid, "password": PASSWORD,
                                                  "managed": False}) for cpid in ids))
        by_station = dict(zip(ids, zip(tags[::2], tags[1::2], strict=True), strict=True))
        position = {cpid: n for n, cpid in enumerate(ids)}  # one phone number per driver

        async def driver(cpid: str) -> None:
            made = await post("/drivers", {"name": f"Bench driver {cpid}",
                                           "phone": f"+91 9{position[cpid]:09d}"})
            if made is None:
                return
            for tag in by_station[cpid]:
                await post(f"/drivers/{made['id']}/cards", {"id_tag": tag, "mode": "commercial"})
            await post(f"/drivers/{made['id']}/topups", {"amount": BALANCE_MINOR,
                                                         "method": "cash"})

        await asyncio.gather(*(driver(cpid) for cpid in ids))


# --- the simulated chargers ------------------------------------------------------------------
_now_cache: tuple[int, str] = (0, "")


def now() -> str:
    """The current time as OCPP wants it, formatted at most once per second."""
    global _now_cache
    second = int(time.time())
    if _now_cache[0] != second:
        _now_cache = (second, datetime.fromtimestamp(second, UTC).strftime(
            "%Y-%m-%dT%H:%M:%S.000Z"))
    return _now_cache[1]


BOOT = ('[2,"%s","BootNotification",{"chargePointVendor":"BenchVendor",'
        '"chargePointModel":"Load-2","chargePointSerialNumber":"%s","firmwareVersion":"1.0"}]')
STATUS = ('[2,"%s","StatusNotification",{"connectorId":%d,"errorCode":"NoError",'
          '"status":"%s","timestamp":"%s"}]')
HEARTBEAT = '[2,"%s","Heartbeat",{}]'
AUTHORIZE = '[2,"%s","Authorize",{"idTag":"%s"}]'
START = ('[2,"%s","StartTransaction",{"connectorId":%d,"idTag":"%s","meterStart":%d,'
         '"timestamp":"%s"}]')
STOP = ('[2,"%s","StopTransaction",{"transactionId":%d,"idTag":"%s","meterStop":%d,'
        '"timestamp":"%s","reason":"Local"}]')
METER = ('[2,"%s","MeterValues",{"connectorId":%d,"transactionId":%d,"meterValue":[{'
         '"timestamp":"%s","sampledValue":[{"value":"%d","context":"Sample.Periodic",'
         '"measurand":"Energy.Active.Import.Register","unit":"Wh"},{"value":"7200",'
         '"context":"Sample.Periodic","measurand":"Power.Active.Import","unit":"W"}]}]}]')
# Answers to the central system's own calls (a bench station is not managed, but be polite).
SERVER_CALL_ANSWERS = {
    "GetConfiguration": {"configurationKey": [], "unknownKey": []},
    "ChangeConfiguration": {"status": "Accepted"},
    "TriggerMessage": {"status": "Rejected"},
    "Reset": {"status": "Accepted"},
    "ClearCache": {"status": "Accepted"},
}


class CallFailed(Exception):
    pass


@dataclass
class Stats:
    latencies: array.array = field(default_factory=lambda: array.array("d"))
    by_action: dict[str, array.array] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    connect: array.array = field(default_factory=lambda: array.array("d"))
    server_calls: int = 0
    first_send: float = float("inf")
    last_answer: float = 0.0
    record: bool = True
    # noisy: latencies of calls sent before / after `split_at` (the flooder starts there);
    # none before `warm_until` (the first third: the site settling after its set-up)
    split_at: float = float("inf")
    warm_until: float = 0.0
    alone: array.array = field(default_factory=lambda: array.array("d"))
    flooded: array.array = field(default_factory=lambda: array.array("d"))

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def answered(self, action: str, sent: float, at: float) -> None:
        if not self.record or sent < self.warm_until:
            return
        ms = (at - sent) * 1000.0
        self.latencies.append(ms)
        (self.alone if sent < self.split_at else self.flooded).append(ms)
        self.by_action.setdefault(action, array.array("d")).append(ms)
        self.first_send = min(self.first_send, sent)
        self.last_answer = max(self.last_answer, at)


class Charger:
    """One simulated charger: one WebSocket, one outstanding call at a time (as OCPP-J wants),
    a reader task that matches answers and answers the central system's calls."""

    protocol = "ocpp1.6"

    def __init__(self, cpid: str, ws_base: str, stats: Stats, timeout: float) -> None:
        self.cpid, self.url, self.stats, self.timeout = cpid, f"{ws_base}/{cpid}", stats, timeout
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.reader: asyncio.Task[None] | None = None
        self.pending: tuple[str, asyncio.Future[list[Any]]] | None = None
        self.ids = itertools.count(1)
        self.register = {1: 10_000, 2: 20_000}
        self.tx: dict[int, int] = {}

    async def connect(self, session: aiohttp.ClientSession) -> bool:
        auth = base64.b64encode(f"{self.cpid}:{PASSWORD}".encode()).decode()
        t0 = time.perf_counter()
        try:
            self.ws = await session.ws_connect(
                self.url, protocols=(self.protocol,), headers={"Authorization": f"Basic {auth}"},
                timeout=aiohttp.ClientWSTimeout(ws_close=5), heartbeat=None,
                max_msg_size=1 << 20)
        except (aiohttp.ClientError, OSError, TimeoutError) as err:
            self.stats.error(f"connect refused ({type(err).__name__})")
            return False
        if self.stats.record:
            self.stats.connect.append((time.perf_counter() - t0) * 1000.0)
        self.reader = asyncio.create_task(self._read())
        return True

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data: str = msg.data
            if data.startswith("[2"):
                await self._answer_server_call(data)
                continue
            at = time.perf_counter()
            pending = self.pending
            # The unique id sits right after the message type: `[3,"<id>",...`.
            if pending is not None and data[4:5 + len(pending[0])] == pending[0] + '"' \
                    and not pending[1].done():
                pending[1].set_result([data, at])
        if self.pending is not None and not self.pending[1].done():
            self.pending[1].set_exception(CallFailed("connection dropped"))

    async def _answer_server_call(self, data: str) -> None:
        assert self.ws is not None
        self.stats.server_calls += 1
        msg = json.loads(data)
        answer = SERVER_CALL_ANSWERS.get(msg[2])
        frame = ([3, msg[1], answer] if answer is not None else
                 [4, msg[1], "NotImplemented", f"{msg[2]} is not simulated", {}])
        await self.ws.send_str(json.dumps(frame))

    async def call(self, action: str, template: str, *args: Any) -> dict[str, Any] | None:
        """Send one CALL; return its answer payload, or None after counting the error."""
        if self.ws is None or self.ws.closed:
            self.stats.error("not connected")
            return None
        unique_id = f"{next(self.ids)}"
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self.pending = (unique_id, future)
        frame = template % ((unique_id,) + args)
        sent = time.perf_counter()
        try:
            await self.ws.send_str(frame)
            async with asyncio.timeout(self.timeout):
                data, at = await future
        except TimeoutError:
            self.stats.error(f"timeout ({action})")
            return None
        except (CallFailed, ConnectionError, aiohttp.ClientError):
            self.stats.error("connection dropped")
            return None
        finally:
            self.pending = None
        if data.startswith("[4"):
            code = json.loads(data)[2]
            self.stats.error(f"CALLERROR {code} ({action})")
            return None
        self.stats.answered(action, sent, at)
        payload: dict[str, Any] = json.loads(data)[2]
        return payload

    # --- the messages --------------------------------------------------------------------------
    async def boot(self) -> bool:
        answer = await self.call("BootNotification", BOOT, f"SN-{self.cpid}")
        if answer is None:
            return False
        if answer.get("status") != "Accepted":
            self.stats.error(f"boot {answer.get('status')}")
            return False
        for connector in (1, 2):
            await self.call("StatusNotification", STATUS, connector, "Available", now())
        return True

    async def start(self, connector: int, tag: str, authorize: bool = True,
                    status: bool = True) -> None:
        if authorize:
            answer = await self.call("Authorize", AUTHORIZE, tag)
            if answer is None:
                return
            if answer["idTagInfo"]["status"] != "Accepted":
                self.stats.error(f"Authorize {answer['idTagInfo']['status']}")
                return
        answer = await self.call("StartTransaction", START, connector, tag,
                                 self.register[connector], now())
        if answer is None:
            return
        if answer["idTagInfo"]["status"] != "Accepted":
            self.stats.error(f"StartTransaction {answer['idTagInfo']['status']}")
        self.tx[connector] = answer["transactionId"]  # a transaction either way
        if status:
            await self.call("StatusNotification", STATUS, connector, "Charging", now())

    async def meter(self, connector: int, wh: int) -> None:
        self.register[connector] += wh
        await self.call("MeterValues", METER, connector, self.tx.get(connector, 0),
                        now(), self.register[connector])

    async def stop(self, connector: int, tag: str, status: bool = True) -> None:
        tx = self.tx.pop(connector, None)
        if tx is not None:
            await self.call("StopTransaction", STOP, tx, tag, self.register[connector], now())
            if status:
                await self.call("StatusNotification", STATUS, connector, "Available", now())

    async def available(self, connector: int) -> None:
        await self.call("StatusNotification", STATUS, connector, "Available", now())

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader


# OCPP 2.0.1: the same site's messages in 2.0.1's terms (a mixed site runs both kinds).
BOOT201 = ('[2,"%s","BootNotification",{"chargingStation":{"vendorName":"BenchVendor",'
           '"model":"Load-201","serialNumber":"%s","firmwareVersion":"1.0"},"reason":"PowerUp"}]')
STATUS201 = ('[2,"%s","StatusNotification",{"timestamp":"%s","connectorStatus":"%s",'
             '"evseId":%d,"connectorId":1}]')
AUTHORIZE201 = '[2,"%s","Authorize",{"idToken":{"idToken":"%s","type":"ISO14443"}}]'
TX_EVENT = ('[2,"%s","TransactionEvent",{"eventType":"%s","timestamp":"%s","triggerReason":'
            '"%s","seqNo":%d,"transactionInfo":{"transactionId":"%s"%s},"evse":{"id":%d,'
            '"connectorId":1}%s,"meterValue":[{"timestamp":"%s","sampledValue":[{"value":%d,'
            '"context":"%s","measurand":"Energy.Active.Import.Register"},{"value":7200,'
            '"context":"%s","measurand":"Power.Active.Import"}]}]}]')


class Charger201(Charger):
    """The same simulated charger speaking OCPP 2.0.1: TransactionEvents with its own
    transaction ids instead of Start/StopTransaction and MeterValues."""

    protocol = "ocpp2.0.1"

    def __init__(self, cpid: str, ws_base: str, stats: Stats, timeout: float) -> None:
        super().__init__(cpid, ws_base, stats, timeout)
        self.refs: dict[int, str] = {}
        self.seq: dict[int, int] = {}
        self.runs = itertools.count(1)

    async def boot(self) -> bool:
        answer = await self.call("BootNotification", BOOT201, f"SN-{self.cpid}")
        if answer is None:
            return False
        if answer.get("status") != "Accepted":
            self.stats.error(f"boot {answer.get('status')}")
            return False
        for evse in (1, 2):
            await self.call("StatusNotification", STATUS201, now(), "Available", evse)
        return True

    async def available(self, connector: int) -> None:
        await self.call("StatusNotification", STATUS201, now(), "Available", connector)

    async def _event(self, kind: str, evse: int, trigger: str, extra_info: str, token: str,
                     context: str) -> dict[str, Any] | None:
        seq = self.seq[evse] = self.seq.get(evse, -1) + 1
        stamp = now()
        return await self.call("TransactionEvent", TX_EVENT, kind, stamp, trigger, seq,
                               self.refs[evse], extra_info, evse, token, stamp,
                               self.register[evse], context, context)

    async def start(self, connector: int, tag: str, authorize: bool = True,
                    status: bool = True) -> None:
        if authorize:
            answer = await self.call("Authorize", AUTHORIZE201, tag)
            if answer is None:
                return
            if answer["idTokenInfo"]["status"] != "Accepted":
                self.stats.error(f"Authorize {answer['idTokenInfo']['status']}")
                return
        self.refs[connector] = f"{self.cpid}-{connector}-{next(self.runs)}"
        self.seq[connector] = -1
        answer = await self._event("Started", connector, "Authorized",
                                   ',"chargingState":"Charging"',
                                   f',"idToken":{{"idToken":"{tag}","type":"ISO14443"}}',
                                   "Transaction.Begin")
        if answer is not None and answer["idTokenInfo"]["status"] != "Accepted":
            self.stats.error(f"TransactionEvent {answer['idTokenInfo']['status']}")
        self.tx[connector] = 1

    async def meter(self, connector: int, wh: int) -> None:
        self.register[connector] += wh
        if connector in self.refs:
            await self._event("Updated", connector, "MeterValuePeriodic", "", "",
                              "Sample.Periodic")
        else:  # outside a transaction: a MeterValues of the EVSE
            await self.call("MeterValues", '[2,"%s","MeterValues",{"evseId":%d,"meterValue":'
                            '[{"timestamp":"%s","sampledValue":[{"value":%d}]}]}]', connector,
                            now(), self.register[connector])

    async def stop(self, connector: int, tag: str, status: bool = True) -> None:
        if self.tx.pop(connector, None) is None or connector not in self.refs:
            return
        await self._event("Ended", connector, "StopAuthorized", ',"stoppedReason":"Local"',
                          f',"idToken":{{"idToken":"{tag}","type":"ISO14443"}}',
                          "Transaction.End")
        del self.refs[connector]
        if status:
            await self.call("StatusNotification", STATUS201, now(), "Available", connector)


def charger_kind(cpid: str, share: float) -> type[Charger]:
    """Which version a charger of a mixed site speaks: a steady share by its number."""
    number = int(cpid.rsplit("-", 1)[1])
    return Charger201 if (number * 0.6180339887) % 1.0 < share else Charger


def tags_of(cpid: str) -> tuple[str, str]:
    number = cpid.rsplit("-", 1)[1]
    return f"BT{number}A", f"BT{number}B"


@dataclass(frozen=True)
class WorkerPlan:
    index: int
    ids: list[str]
    ws_base: str
    scenario: str
    duration: float
    interval: float
    timeout: float
    cycle: int
    heartbeat_every: int
    v201_share: float = 0.0


async def run_worker(plan: WorkerPlan, ready: Any, go: Any, start_at: Any, done: Any,
                     release: Any, results: Any) -> None:
    stats = Stats()
    loop = asyncio.get_running_loop()
    cpu0 = time.process_time()
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        chargers = [charger_kind(cpid, plan.v201_share)(cpid, plan.ws_base, stats, plan.timeout)
                    for cpid in plan.ids]

        if plan.scenario != "boot":  # set the site up before the clock starts
            stats.record = False
            oks = await asyncio.gather(*(c.connect(session) for c in chargers))
            booted = await asyncio.gather(*(c.boot() for c in chargers if c.ws is not None))
            if plan.scenario in ("saturation", NOISY, *COST_KINDS):
                await asyncio.gather(*(c.start(1, tags_of(c.cpid)[0], authorize=False,
                                               status=False)
                                       for c in chargers if c.ws is not None))
            else:  # steady: a site at work has its sessions running when the clock starts
                async def both(c: Charger) -> None:
                    for connector, tag in zip((1, 2), tags_of(c.cpid), strict=True):
                        await c.start(connector, tag)
                await asyncio.gather(*(both(c) for c in chargers if c.ws is not None))
            stats.record = True
            if not all(oks) or not all(booted):
                stats.error("set-up failed")

        await loop.run_in_executor(None, ready.wait)
        await loop.run_in_executor(None, go.wait)
        begin = start_at.value
        await asyncio.sleep(max(0.0, begin - time.time()))
        t_begin = time.perf_counter()
        end = t_begin + plan.duration
        if plan.scenario == NOISY:
            stats.warm_until = t_begin + plan.duration / 3
            stats.split_at = t_begin + plan.duration * 2 / 3

        async def boot_one(c: Charger) -> None:
            if await c.connect(session):
                await c.boot()

        async def steady_one(c: Charger) -> None:
            tags = tags_of(c.cpid)
            rnd = random.Random(c.cpid)
            # Chargers are not in step, and their sessions end at random points of the cycle.
            next_at = time.perf_counter() + rnd.uniform(0, plan.interval) - plan.interval
            left = {1: rnd.randint(1, plan.cycle), 2: rnd.randint(1, plan.cycle)}
            tick = rnd.randrange(plan.heartbeat_every)
            wh = int(7200 * plan.interval / 3600)
            while True:
                next_at += plan.interval
                delay = next_at - time.perf_counter()
                if next_at > end:
                    break
                if delay > 0:
                    await asyncio.sleep(delay)
                tick += 1
                for connector in (1, 2):
                    if connector in c.tx:
                        await c.meter(connector, wh)
                    left[connector] -= 1
                    if left[connector] <= 0:
                        await c.stop(connector, tags[connector - 1])
                        await c.start(connector, tags[connector - 1])
                        left[connector] = plan.cycle
                if tick % plan.heartbeat_every == 0:
                    await c.call("Heartbeat", HEARTBEAT)

        async def saturate_one(c: Charger) -> None:
            if c.ws is None:
                return
            step = 0
            while time.perf_counter() < end:
                step += 1
                kind = step % 4
                if kind in (1, 3):
                    await c.meter(1, 1)
                elif kind == 2:
                    await c.call("Heartbeat", HEARTBEAT)
                else:
                    await c.available(2)
                if c.ws.closed:
                    return

        async def noisy_one(c: Charger) -> None:
            rnd = random.Random(c.cpid)
            next_at = time.perf_counter() + rnd.uniform(0, plan.interval) - plan.interval
            tick = rnd.randrange(plan.heartbeat_every)
            while True:
                next_at += plan.interval
                if next_at > end:
                    break
                delay = next_at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tick += 1
                await c.meter(1, 2)
                if tick % plan.heartbeat_every == 0:
                    await c.call("Heartbeat", HEARTBEAT)

        async def cost_one(c: Charger) -> None:
            if c.ws is None:
                return
            tag = tags_of(c.cpid)[0]
            while time.perf_counter() < end and not c.ws.closed:
                if plan.scenario == "cost-heartbeat":
                    await c.call("Heartbeat", HEARTBEAT)
                elif plan.scenario == "cost-status":
                    await c.available(2)
                elif plan.scenario == "cost-meter":
                    await c.meter(1, 1)
                else:  # a session charged to the driver's account: Authorize, start, stop
                    await c.stop(1, tag, status=False)
                    await c.start(1, tag, status=False)

        work = {"boot": boot_one, "steady": steady_one, "saturation": saturate_one,
                NOISY: noisy_one, **dict.fromkeys(COST_KINDS, cost_one)}[plan.scenario]
        await asyncio.gather(*(work(c) for c in chargers))
        t_done = time.perf_counter()
        connected = sum(1 for c in chargers if c.ws is not None and not c.ws.closed)
        results.put({
            "index": plan.index,
            "latencies": stats.latencies.tobytes(),
            "alone": stats.alone.tobytes(),
            "flooded": stats.flooded.tobytes(),
            "by_action": {k: v.tobytes() for k, v in stats.by_action.items()},
            "connect": stats.connect.tobytes(),
            "errors": stats.errors,
            "server_calls": stats.server_calls,
            "connected": connected,
            # wall-clock times, comparable across processes
            "first_send": (time.time() - (time.perf_counter() - stats.first_send))
            if stats.latencies else None,
            "last_answer": (time.time() - (time.perf_counter() - stats.last_answer))
            if stats.latencies else None,
            "began": begin,
            "worked_s": t_done - t_begin,
            "cpu_s": time.process_time() - cpu0,
        })
        await loop.run_in_executor(None, done.wait)  # connections stay open while RSS is read
        if plan.scenario != "boot":  # off the clock and the CPU window: stop what still runs
            stats.record = False

            async def stop_all(c: Charger) -> None:
                for connector, tag in zip((1, 2), tags_of(c.cpid), strict=True):
                    await c.stop(connector, tag, status=False)
            await asyncio.gather(*(stop_all(c) for c in chargers))
        await loop.run_in_executor(None, release.wait)
        await asyncio.gather(*(c.close() for c in chargers))


def worker_main(plan: WorkerPlan, ready: Any, go: Any, start_at: Any, done: Any, release: Any,
                results: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles ^C
    try:
        asyncio.run(run_worker(plan, ready, go, start_at, done, release, results))
    except Exception as err:  # report, never hang the parent
        results.put({"index": plan.index, "crash": f"{type(err).__name__}: {err}"})
        with contextlib.suppress(Exception):
            ready.abort()
            done.abort()


async def flood(ws_base: str, cpid: str, go: Any, start_at: Any, duration: float,
                results: Any) -> None:
    """The noisy neighbour: for the last third of the run, Heartbeats at FLOOD_RATE a second
    without waiting for answers, until the end or until the server closes the socket."""
    loop = asyncio.get_running_loop()
    auth = base64.b64encode(f"{cpid}:{PASSWORD}".encode()).decode()
    sent = answered = 0
    async with aiohttp.ClientSession() as session, session.ws_connect(
            f"{ws_base}/{cpid}", protocols=("ocpp1.6",), heartbeat=None,
            headers={"Authorization": f"Basic {auth}"}) as ws:
        await loop.run_in_executor(None, go.wait)
        await asyncio.sleep(max(0.0, start_at.value + duration * 2 / 3 - time.time()))
        end = start_at.value + duration

        async def read() -> None:
            nonlocal answered
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                answered += 1

        reader = asyncio.create_task(read())
        began = time.time()
        with contextlib.suppress(ConnectionError, aiohttp.ClientError):
            while time.time() < end and not ws.closed:
                for _ in range(50):
                    sent += 1
                    await ws.send_str(HEARTBEAT % f"f{sent}")
                await asyncio.sleep(max(0.0, began + sent / FLOOD_RATE - time.time()))
        closed_at = time.time() if ws.closed else None
        code = ws.close_code
        await ws.close()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    results.put({"sent": sent, "answered": answered, "close_code": code,
                 "closed_after_s": (closed_at - began) if closed_at else None})


def flood_main(ws_base: str, cpid: str, go: Any, start_at: Any, duration: float,
               results: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        asyncio.run(flood(ws_base, cpid, go, start_at, duration, results))
    except Exception as err:
        results.put({"crash": f"{type(err).__name__}: {err}"})


# --- running a scenario and printing it ------------------------------------------------------
def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def run_scenario(name: str, ids: list[str], args: argparse.Namespace, ws_base: str,
                 pid: int | None, duration: float,
                 probe: tuple[str, str] | None = None,
                 db_cpu: Any = None, gc_probe: Path | None = None) -> dict[str, Any]:
    ctx = mp.get_context("fork")
    k = max(1, min(args.processes, len(ids)))
    slices = [ids[i::k] for i in range(k)]
    ready, done = ctx.Barrier(k + 1), ctx.Barrier(k + 1)
    go, release = ctx.Event(), ctx.Event()
    start_at = ctx.Value("d", 0.0)
    results = ctx.Queue()
    rss_before = proc_rss_kb(pid) if pid else None
    procs = [ctx.Process(target=worker_main, args=(
        WorkerPlan(i, s, ws_base, "steady" if name == MONEY else name, duration,
                   args.interval, args.timeout, args.cycle,
                   args.heartbeat_every, args.v201_share),
        ready, go, start_at, done, release, results), daemon=True) for i, s in enumerate(slices)]
    flood_results = ctx.Queue()
    if name == NOISY:
        procs.append(ctx.Process(target=flood_main, args=(
            ws_base, flooder_id(args), go, start_at, duration, flood_results), daemon=True))
    if name == MONEY and probe is not None:
        procs.append(ctx.Process(target=money_main, args=(
            probe[0], probe[1], probe_id(args), ws_base, go, start_at, duration, args.timeout,
            flood_results), daemon=True))
    for p in procs:
        p.start()
    setup_limit = 120 + len(ids) / 50
    ready.wait(timeout=setup_limit)  # every load process has set up its chargers
    start_at.value = time.time() + 0.5
    go.set()
    print(f"   {name}: the clock starts (set-up done)", flush=True)  # e.g. to start a profiler
    time.sleep(max(0.0, start_at.value - time.time()))
    cpu_before = proc_cpu_s(pid) if pid else None
    loop_before = thread_cpu_s(pid, pid) if pid else None
    db_before = db_cpu() if db_cpu else None
    gc_before = read_gc_probe(gc_probe)
    wall_before = time.time()
    # Collect results (put before the "done" barrier), then read the server while connected.
    got: list[dict[str, Any]] = []
    deadline = time.time() + duration + setup_limit + args.timeout * 4
    while len(got) < k and time.time() < deadline:
        with contextlib.suppress(Exception):
            got.append(results.get(timeout=1.0))
        if any(r.get("crash") for r in got):
            break
    cpu_after = proc_cpu_s(pid) if pid else None
    loop_after = thread_cpu_s(pid, pid) if pid else None
    db_after = db_cpu() if db_cpu else None
    gc_after = read_gc_probe(gc_probe)
    wall_after = time.time()
    crashed = [r["crash"] for r in got if r.get("crash")]
    if not crashed:
        with contextlib.suppress(Exception):
            done.wait(timeout=30)
    rss_connected = proc_rss_kb(pid) if pid else None
    release.set()
    for p in procs:
        p.join(timeout=120)
        if p.is_alive():
            p.terminate()
    if crashed or len(got) < k:
        raise SystemExit(f"scenario {name}: a load process failed: {crashed or 'no result'}")

    lat: list[float] = []
    by_action: dict[str, list[float]] = {}
    connect: list[float] = []
    errors: dict[str, int] = {}
    for r in got:
        lat.extend(array.array("d", r["latencies"]))
        connect.extend(array.array("d", r["connect"]))
        for action, raw in r["by_action"].items():
            by_action.setdefault(action, []).extend(array.array("d", raw))
        for kind, n in r["errors"].items():
            errors[kind] = errors.get(kind, 0) + n
    lat.sort()
    connect.sort()
    split = {"alone": sorted(v for r in got for v in array.array("d", r["alone"])),
             "flooded": sorted(v for r in got for v in array.array("d", r["flooded"]))}
    began = min(r["began"] for r in got)
    if name == "boot":  # from the go to the last answer
        window = max((r["last_answer"] or began) for r in got) - began
    else:
        window = max(r["worked_s"] for r in got)
    connected = sum(r["connected"] for r in got)
    cpu_window = wall_after - wall_before
    out = {
        "scenario": name, "chargers": len(ids), "processes": k, "answered": len(lat),
        "window_s": window, "msg_per_s": len(lat) / window if window > 0 else 0.0,
        "p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95),
        "p99_ms": percentile(lat, 99), "max_ms": lat[-1] if lat else float("nan"),
        "errors": errors, "error_count": sum(errors.values()), "connected": connected,
        "server_calls": sum(r["server_calls"] for r in got),
        "rss_before_kb": rss_before, "rss_connected_kb": rss_connected,
        "rss_per_charger_kb": (rss_connected / connected) if rss_connected and connected
        else None,
        "rss_delta_per_charger_kb": ((rss_connected - rss_before) / connected)
        if rss_connected and rss_before and connected else None,
        "server_cpu_pct": ((cpu_after - cpu_before) / cpu_window * 100.0)
        if cpu_before is not None and cpu_after is not None and cpu_window > 0 else None,
        "loop_cpu_pct": ((loop_after - loop_before) / cpu_window * 100.0)
        if loop_before is not None and loop_after is not None and cpu_window > 0 else None,
        "db_cpu_pct": ((db_after - db_before) / cpu_window * 100.0)
        if db_before is not None and db_after is not None and cpu_window > 0 else None,
        "generator_cpu_pct": sum(r["cpu_s"] for r in got) / max(cpu_window, 1e-9) * 100.0,
        "by_action": {a: {"n": len(v), "p50_ms": percentile(sorted(v), 50),
                          "p99_ms": percentile(sorted(v), 99)}
                      for a, v in sorted(by_action.items())},
        "connect_ms": {"p50": percentile(connect, 50), "p99": percentile(connect, 99),
                       "max": connect[-1] if connect else float("nan")} if connect else None,
    }
    if gc_before is not None and gc_after is not None:
        out["gc"] = gc_window(gc_before, gc_after, len(lat))
    if name == MONEY:
        with contextlib.suppress(Exception):
            out["probe"] = flood_results.get(timeout=60)
    if name == NOISY:
        for half, values in split.items():
            out[f"{half}_n"] = len(values)
            for p in (50, 99):
                out[f"{half}_p{p}_ms"] = percentile(values, p)
            out[f"{half}_max_ms"] = values[-1] if values else float("nan")
        with contextlib.suppress(Exception):
            out["flooder"] = flood_results.get(timeout=10)
    return out


def read_gc_probe(path: Path | None) -> dict[str, Any] | None:
    """The running totals bench/gcprobe/sitecustomize.py last wrote (once a second)."""
    if path is None:
        return None
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def gc_window(before: dict[str, Any], after: dict[str, Any], answered: int) -> dict[str, Any]:
    """The collector's work between two readings: per generation, collections, their time
    (total, per second, per answered message, the longest of the run so far) and sizes."""
    span = max(after["at"] - before["at"], 1e-9)
    gens = []
    for g in range(3):
        n = after["n"][g] - before["n"][g]
        s = after["s"][g] - before["s"][g]
        c = after["cpu_s"][g] - before["cpu_s"][g]  # the collecting thread's CPU
        gens.append({"n": n, "per_s": n / span, "ms_per_s": s * 1000 / span,
                     "cpu_ms_per_s": c * 1000 / span,
                     "us_per_msg": s * 1e6 / answered if answered else float("nan"),
                     "mean_ms": s * 1000 / n if n else 0.0, "max_ms": after["max_s"][g] * 1000,
                     "collected": after["collected"][g] - before["collected"][g],
                     "size": after["sizes"][g], "max_size": after["max_sizes"][g]})
    return {"gens": gens, "frozen": after["frozen"], "threshold": after["threshold"],
            "ms_per_s": sum(x["ms_per_s"] for x in gens),
            "us_per_msg": sum(after["s"][g] - before["s"][g] for g in range(3)) * 1e6
            / answered if answered else float("nan")}


def flooder_id(args: argparse.Namespace) -> str:
    return f"{args.prefix}-99999"


def _money() -> Any:
    """bench/money.py, however this script was started."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from bench import money
    return money


def probe_id(args: argparse.Namespace) -> str:
    return f"{args.prefix}-99998"


def money_main(url: str, token: str, cpid: str, ws_base: str, go: Any, start_at: Any,
               duration: float, timeout: float, results: Any) -> None:
    """The money scenario's probe process (bench/money.py): its own charger and browsers."""
    money = _money()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    money.STATUS_FRAME = STATUS

    async def run() -> dict[str, Any]:
        async with aiohttp.ClientSession() as session:
            charger = Charger(cpid, ws_base, Stats(), timeout)
            if not await charger.connect(session) or not await charger.boot():
                raise SystemExit("money probe: its charger could not connect and boot")
            await asyncio.get_running_loop().run_in_executor(None, go.wait)
            try:
                return await money.probe(url, token, cpid, charger, start_at.value, duration)
            finally:
                await charger.close()

    try:
        results.put(asyncio.run(run()))
    except BaseException as err:  # report, never hang the parent
        results.put({"crash": f"{type(err).__name__}: {err}"})


def print_probe(result: dict[str, Any] | None) -> None:
    money = _money()
    if not result or "crash" in result:
        print(f"\n   money probe: {result and result.get('crash') or 'no result'}")
        return
    print(f"\n   money and pages under this load, {result['rounds']} rounds (issue 24, goal 3):")
    for verdict in money.verdicts(result):
        print("   " + verdict)


def print_noisy(rows: list[dict[str, Any]]) -> None:
    """Each noisy run, then the median and spread (min-max) of the steady chargers' p99."""
    print("\nnoisy neighbour: steady chargers' latency (ms) alone / beside one flooder")
    print("run   alone p50   p99    max   flooded p50   p99    max   flooder sent/answered/closed")
    for i, r in enumerate(rows, 1):
        f = r.get("flooder", {})
        print(f"{i:>3} {r['alone_p50_ms']:>11.1f} {r['alone_p99_ms']:>5.1f} "
              f"{r['alone_max_ms']:>6.1f} {r['flooded_p50_ms']:>13.1f} "
              f"{r['flooded_p99_ms']:>5.1f} {r['flooded_max_ms']:>6.1f}   "
              f"{f.get('sent')}/{f.get('answered')}/code {f.get('close_code')} after "
              f"{fmt(f.get('closed_after_s'))} s")
    for key in ("alone_p99_ms", "flooded_p99_ms"):
        values = sorted(r[key] for r in rows)
        print(f"{key}: median {values[len(values) // 2]:.1f} (spread {values[0]:.1f}-"
              f"{values[-1]:.1f}) over {len(values)} runs")


def fmt(value: float | None, spec: str = ".1f") -> str:
    return "n/a" if value is None else format(value, spec)


def print_result(r: dict[str, Any]) -> None:
    print(f"\n== {r['scenario']}: {r['chargers']} chargers from {r['processes']} processes, "
          f"{r['window_s']:.1f} s")
    print(f"   answered {r['answered']} messages: {r['msg_per_s']:.0f} msg/s")
    print(f"   latency ms: p50 {r['p50_ms']:.1f}  p95 {r['p95_ms']:.1f}  "
          f"p99 {r['p99_ms']:.1f}  max {r['max_ms']:.1f}")
    if r["connect_ms"]:
        c = r["connect_ms"]
        print(f"   WebSocket connect ms: p50 {c['p50']:.1f}  p99 {c['p99']:.1f}  "
              f"max {c['max']:.1f}")
    errs = ", ".join(f"{k}: {v}" for k, v in sorted(r["errors"].items())) or "none"
    print(f"   errors: {r['error_count']} ({errs})")
    print(f"   server RSS: {fmt(r['rss_before_kb'] and r['rss_before_kb'] / 1024)} MB before, "
          f"{fmt(r['rss_connected_kb'] and r['rss_connected_kb'] / 1024)} MB with "
          f"{r['connected']} chargers connected; per connected charger "
          f"{fmt(r['rss_per_charger_kb'])} KB total, "
          f"{fmt(r['rss_delta_per_charger_kb'])} KB above the start")
    print(f"   server CPU: {fmt(r['server_cpu_pct'], '.0f')}% (100% = one core; its main "
          f"thread, the event loop: {fmt(r.get('loop_cpu_pct'), '.0f')}%);  "
          f"load generator CPU: {r['generator_cpu_pct']:.0f}%"
          + (f";  PostgreSQL cluster CPU: {r['db_cpu_pct']:.0f}%"
             if r.get("db_cpu_pct") is not None else ""))
    if r["server_calls"]:
        print(f"   calls from the server answered by the chargers: {r['server_calls']}")
    if r.get("gc"):
        g = r["gc"]
        print(f"   collector (--gc-probe): {g['ms_per_s']:.1f} ms/s, {g['us_per_msg']:.1f} us per "
              f"answer; thresholds {tuple(g['threshold'])}, {g['frozen']} frozen")
        for i, x in enumerate(g["gens"]):
            print(f"     gen{i}: {x['n']} ({x['per_s']:.1f}/s), {x['ms_per_s']:.1f} ms/s, "
                  f"({x['cpu_ms_per_s']:.1f} ms/s CPU), mean {x['mean_ms']:.2f} ms, "
                  f"max {x['max_ms']:.1f} ms, collected "
                  f"{x['collected']}; size now {x['size']}, largest seen {x['max_size']}")
    print("   per action: " + ";  ".join(
        f"{a} {v['n']} (p50 {v['p50_ms']:.1f}, p99 {v['p99_ms']:.1f})"
        for a, v in r["by_action"].items()))


def print_table(rows: list[dict[str, Any]]) -> None:
    print("\nscenario    chargers   msg/s   p50 ms   p95 ms   p99 ms   max ms  errors  "
          "RSS MB  KB/charger  server CPU%")
    for r in rows:
        rss = r["rss_connected_kb"]
        print(f"{r['scenario']:<11} {r['chargers']:>8} {r['msg_per_s']:>7.0f} {r['p50_ms']:>8.1f} "
              f"{r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['max_ms']:>8.1f} "
              f"{r['error_count']:>7} {fmt(rss and rss / 1024):>7} "
              f"{fmt(r['rss_delta_per_charger_kb']):>11} {fmt(r['server_cpu_pct'], '.0f'):>12}")


def raise_nofile(chargers: int, processes: int) -> None:
    """Each connection is a file on both ends; raise the soft limit (inherited by the server
    and the load processes) so neither runs out."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = chargers + 1024
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        print(f"open-file limit: raised RLIMIT_NOFILE soft limit from {soft} to {want} "
              f"(hard {hard}) for the server and {processes} load processes")
    else:
        print(f"open-file limit: RLIMIT_NOFILE soft limit {soft} is enough (hard {hard})")
    if chargers + 64 > want:
        print(f"warning: {chargers} chargers may not fit the open-file limit {want}")


# Issue 24's goals (issue 9's, raised): the yardstick is the bare library on uvloop.
GOAL_SATURATION_RATIO = 2.5  # x the bare library on uvloop
GOAL_ECHO_SHARE = 0.30  # of the raw aiohttp echo ceiling
GOAL_CHARGERS = 10_000
GOAL_ONE_CORE_CHARGERS = 5_000
GOAL_P99_MS = 100.0
GOAL_SERVER_CPU = 60.0  # % of one core, steady site at 10,000 chargers
GOAL_KB_PER_CHARGER = 20.0
GOAL_BOOT_S = 60.0
PI4_FACTOR = 5.0  # a Pi 4 core runs the speed loop this many times slower (see --pi4-factor)


def speed_loop(n: int = 300_000) -> float:
    """A fixed CPU-bound Python loop (integer and float arithmetic, a dict, a list, a call):
    the machine's single-core speed for CPython, in loops per second (best of 3)."""
    def step(i: int, acc: dict[int, float]) -> float:
        return acc.get(i % 97, 0.0) * 0.5 + i

    best = float("inf")
    for _ in range(3):
        acc: dict[int, float] = {}
        items: list[float] = []
        t = time.perf_counter()
        for i in range(n):
            v = step(i, acc)
            acc[i % 97] = v
            if i % 7 == 0:
                items.append(v)
        best = min(best, time.perf_counter() - t)
    return n / best


def memory_walk(size: int = 1 << 22, steps: int = 2_000_000) -> float:
    """Steps per second of a walk through one random cycle over `size` list slots (32 MB of
    pointers to 4 million ints, some 150 MB in all): each step a load the caches mostly miss.
    The speed loop above fits in a core's cache; the appliance at 10,000 chargers does not,
    and a shared machine's memory can be slow on a day its core is not (best of 3)."""
    order = list(range(size))
    random.Random(24).shuffle(order)
    nxt = [0] * size
    for a, b in zip(order, order[1:] + order[:1], strict=True):
        nxt[a] = b
    del order
    best = float("inf")
    for _ in range(3):
        i, t = 0, time.perf_counter()
        for _ in range(steps):
            i = nxt[i]
        best = min(best, time.perf_counter() - t)
    return steps / best


def socket_trips(n: int = 200_000) -> float:
    """One-byte send and receive pairs a second on a Unix socket pair, in one thread: what a
    system call costs today. The appliance's loop makes a read and a write a message, and a
    machine can be slower for system calls on a day its speed loop is not (best of 3)."""
    a, b = socket.socketpair()
    best = float("inf")
    with a, b:
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(n):
                a.send(b"x")
                b.recv(1)
            best = min(best, time.perf_counter() - t)
    return n / best


def core_speed(cpu: int | None) -> float:
    """`speed_loop` on one core (`cpu`, or wherever it runs), in a process of its own."""
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
            "from bench.load import speed_loop; print(speed_loop())")
    cmd = [sys.executable, "-c", code]
    if cpu is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(cpu), *cmd]
    return float(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def print_ratios(rows: dict[str, dict[str, dict[str, Any]]]) -> None:
    """The appliance's figures divided by each yardstick's, scenario by scenario."""
    app = rows.get("appliance", {})
    for other in ("before", *BARE_TARGETS):
        theirs = rows.get(other, {})
        common = [name for name in app if name in theirs]
        if not common:
            continue
        print(f"\nappliance / {other} (msg/s: higher is better; latency, memory, CPU: lower)")
        print("scenario      msg/s     p50     p95     p99     max  KB/charger  server CPU")
        for name in common:
            a, b = app[name], theirs[name]

            def ratio(key: str, a: dict[str, Any] = a, b: dict[str, Any] = b) -> str:
                x, y = a.get(key), b.get(key)
                return f"{x / y:.2f}x" if x is not None and y else "n/a"
            print(f"{name:<11} {ratio('msg_per_s'):>7} {ratio('p50_ms'):>7} "
                  f"{ratio('p95_ms'):>7} {ratio('p99_ms'):>7} {ratio('max_ms'):>7} "
                  f"{ratio('rss_per_charger_kb'):>11} {ratio('server_cpu_pct'):>11}")


# Issue 24, goal 5: the single process on PostgreSQL at least this share of it on SQLite.
GOAL_PG_SHARE = 0.80
PG_PAIRS = (("appliance-pg", "appliance"), ("before-pg", "before"))


def print_pg_ratios(rows: dict[str, dict[str, dict[str, Any]]]) -> None:
    """PostgreSQL over SQLite, scenario by scenario, for each pair measured in this run."""
    for pg, lite in PG_PAIRS:
        common = [n for n in rows.get(pg, {}) if n in rows.get(lite, {})]
        if not common:
            continue
        print(f"\n{pg} / {lite} (PostgreSQL over SQLite, same run; msg/s: higher is better)")
        print("scenario      msg/s  p50 ms (pg/sqlite)   p99 ms (pg/sqlite)   server CPU%  "
              "cluster CPU%  CPU us/msg (pg incl. cluster/sqlite)")
        for name in common:
            a, b = rows[pg][name], rows[lite][name]
            ratio = a["msg_per_s"] / b["msg_per_s"] if b["msg_per_s"] else float("nan")
            us_pg = cost_us({**a, "server_cpu_pct": (a["server_cpu_pct"] or 0)
                             + (a.get("db_cpu_pct") or 0)}) if a["server_cpu_pct"] else None
            print(f"{name:<11} {ratio:>6.2f}x  {a['p50_ms']:>7.1f} / {b['p50_ms']:<7.1f}    "
                  f"{a['p99_ms']:>7.1f} / {b['p99_ms']:<7.1f}    "
                  f"{fmt(a['server_cpu_pct'], '.0f'):>4} / {fmt(b['server_cpu_pct'], '.0f'):<4}"
                  f"  {fmt(a.get('db_cpu_pct'), '.0f'):>8}      "
                  f"{fmt(us_pg, '.0f')} / {fmt(cost_us(b), '.0f')}")


def judge_pg(rows: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Goal 5: boot storm and steady throughput (msg/s answered) on PostgreSQL at least 80% of
    SQLite's in the same run; saturation shown beside them. A scenario with errors fails."""
    out = []
    for pg, lite in PG_PAIRS:
        if not (rows.get(pg) and rows.get(lite)):
            continue
        parts, oks = [], []
        for name in ("boot", "steady", "saturation"):
            a, b = rows[pg].get(name), rows[lite].get(name)
            if not (a and b and b["msg_per_s"]):
                continue
            ratio = a["msg_per_s"] / b["msg_per_s"]
            errs = a["error_count"] + b["error_count"]
            if name != "saturation":
                oks.append(ratio >= GOAL_PG_SHARE and errs == 0)
            parts.append(f"{name} {ratio * 100:.0f}% ({a['msg_per_s']:.0f} / "
                         f"{b['msg_per_s']:.0f} msg/s, {errs} errors)")
        if parts:
            verdict = "n/a " if not oks else "PASS" if all(oks) else "FAIL"
            out.append(f"{verdict}  5 PostgreSQL ({pg} / {lite}): " + ", ".join(parts)
                       + f"; goal: boot and steady >= {GOAL_PG_SHARE * 100:.0f}%")
    return out


def cost_us(row: dict[str, Any]) -> float | None:
    """The server's CPU per answered message, in microseconds."""
    cpu, rate = row.get("server_cpu_pct"), row.get("msg_per_s")
    return cpu / 100.0 * 1e6 / rate if cpu is not None and rate else None


def print_costs(rows: dict[str, dict[str, dict[str, Any]]]) -> None:
    """What one message of each kind costs the server (CPU time per answer, all its threads),
    target by target: a figure that, unlike msg/s, a busy machine disturbs little."""
    names = [t for t in rows if any(k in rows[t] for k in COST_KINDS)]
    print("\nserver CPU per answered message, microseconds (msg/s answered in brackets)")
    print("kind            " + "".join(f"{t:>26}" for t in names))
    for kind in COST_KINDS:
        cells = []
        for t in names:
            row = rows[t].get(kind)
            us = cost_us(row) if row else None
            cells.append(f"{fmt(us, '.0f')} ({row['msg_per_s']:.0f}/s)" if row else "n/a")
        print(f"{kind:<16}" + "".join(f"{c:>26}" for c in cells))
    print("of which the event loop's thread (the main thread), microseconds")
    for kind in COST_KINDS:
        cells = []
        for t in names:
            row = rows[t].get(kind)
            us = cost_us({**row, "server_cpu_pct": row.get("loop_cpu_pct")}) if row else None
            cells.append(fmt(us, '.0f'))
        print(f"{kind:<16}" + "".join(f"{c:>26}" for c in cells))


def judge(rows: dict[str, dict[str, dict[str, Any]]], log_errors: int | None,
          one_core: bool = False, speed: float | None = None,
          pi4_factor: float = PI4_FACTOR) -> list[str]:
    """Issue 24's goals, PASS or FAIL each, with the figures behind the verdict (n/a: the run
    did not measure it)."""
    app = rows.get("appliance", {})
    out = []

    def line(ok: bool | None, text: str) -> None:
        out.append(f"{'n/a ' if ok is None else 'PASS' if ok else 'FAIL'}  {text}")

    def sat_of(target: str) -> float | None:
        row = rows.get(target, {}).get("saturation")
        return row["msg_per_s"] if row else None

    sat = app.get("saturation")
    ref, ref_asyncio, echo = (sat_of("reference"), sat_of("reference-asyncio"),
                              sat_of("echo") or sat_of("echo-asyncio"))
    if sat and (ref or echo):
        ratio = sat["msg_per_s"] / ref if ref else None
        share = sat["msg_per_s"] / echo if echo else None
        line((ratio is None or ratio >= GOAL_SATURATION_RATIO)
             and (share is None or share >= GOAL_ECHO_SHARE) and sat["error_count"] == 0,
             f"1 saturation with persistence, validation and money: {sat['msg_per_s']:.0f} "
             f"msg/s = {fmt(ratio, '.2f')}x the bare library on uvloop ({fmt(ref, '.0f')}; "
             f"goal >= {GOAL_SATURATION_RATIO:.1f}x), "
             + (f"{sat['msg_per_s'] / ref_asyncio:.2f}x it on asyncio's loop "
                f"({ref_asyncio:.0f}), " if ref_asyncio else "")
             + f"{fmt(share and share * 100, '.0f')}% of the raw aiohttp echo "
             f"({fmt(echo, '.0f')}; goal >= {GOAL_ECHO_SHARE * 100:.0f}%)")
    else:
        line(None, "1 saturation: run saturation on appliance and reference (and echo)")
    want = GOAL_ONE_CORE_CHARGERS if one_core else GOAL_CHARGERS
    st = app.get("steady")
    if st:
        cpu = st["server_cpu_pct"]
        ok = st["connected"] >= want and st["p99_ms"] < GOAL_P99_MS and st["error_count"] == 0
        if one_core:
            line(ok, f"2 one core: steady {st['connected']} connected (goal {want}), p99 "
                     f"{st['p99_ms']:.1f} ms (goal < {GOAL_P99_MS:.0f}), server "
                     f"{fmt(cpu, '.0f')}% of its core, {st['error_count']} errors")
            if cpu is not None and speed:
                line(None, f"2 a Pi 4 core: expected {cpu * pi4_factor:.0f}% of it for this "
                           f"site (this core: {speed:,.0f} speed loops/s; a Pi 4 core taken as "
                           f"{pi4_factor:g}x slower, so {speed / pi4_factor:,.0f}; rerun "
                           f"`bench/load.py --speed` on a Pi for the real factor)")
        else:
            line(ok and cpu is not None and cpu < GOAL_SERVER_CPU,
                 f"0 headroom: steady {st['connected']} connected (goal {want}), p99 "
                 f"{st['p99_ms']:.1f} ms (goal < {GOAL_P99_MS:.0f}), server {fmt(cpu, '.0f')}% "
                 f"of a core (goal < {GOAL_SERVER_CPU:.0f}%), {st['error_count']} errors")
        kb = st["rss_per_charger_kb"]
        line(st["connected"] >= GOAL_CHARGERS and kb is not None and kb <= GOAL_KB_PER_CHARGER,
             f"6 memory: {fmt(kb)} KB RSS per connected charger at {st['connected']} "
             f"(all of the server's RSS; goal <= {GOAL_KB_PER_CHARGER:.0f} at {GOAL_CHARGERS})")
    else:
        line(None, "0/2/6 steady: not run")
    boot = app.get("boot")
    if boot:
        answered = boot["by_action"].get("BootNotification", {}).get("n", 0)
        accepted = answered - sum(n for k, n in boot["errors"].items() if k.startswith("boot "))
        line(boot["chargers"] >= want and accepted == boot["chargers"]
             and boot["window_s"] <= GOAL_BOOT_S and boot["error_count"] == 0,
             f"{'2 one core: ' if one_core else ''}boot storm: {accepted} of "
             f"{boot['chargers']} chargers Accepted (goal {want}) in {boot['window_s']:.1f} s "
             f"(goal <= {GOAL_BOOT_S:.0f}), {boot['error_count']} refused/dropped/errors")
    else:
        line(None, "boot storm: not run")
    if app:
        callerrors = sum(n for r in app.values() for k, n in r["errors"].items()
                         if k.startswith("CALLERROR"))
        others = sum(r["error_count"] for r in app.values()) - callerrors
        line(callerrors == 0 and (log_errors or 0) == 0,
             f"no error answers to correct chargers: {callerrors} CALLERRORs in all scenarios, "
             f"{log_errors if log_errors is not None else 'unknown'} ERROR lines in the server "
             f"log ({others} other errors: timeouts, refused or dropped connections)")
    return out


@dataclass
class Target:
    """One server under test, started (or given with --url) before any scenario runs."""

    name: str
    url: str
    token: str | None
    pid: int | None
    server: Appliance | None
    seeded: bool = False  # its site was written before it served (--setup seed)


def start_target(name: str, args: argparse.Namespace) -> Target:
    if name == "appliance" and args.url:
        return Target(name, args.url.rstrip("/"), args.token, args.pid, None)
    if name == "appliance":
        server: Appliance = Appliance(args.python, args.keep, args.root, args.database_url)
    elif name.startswith("hosted") and name[6:].isdigit():
        server = Hosted(args.python, args.keep, args.root, args.database_url, int(name[6:]))
    elif name in ("appliance-pg", "before-pg"):  # the single process on PostgreSQL
        root = args.root if name == "appliance-pg" else args.before_root
        if root is None:
            raise SystemExit("the target before-pg needs --before-root")
        server = PgAppliance(args.python, args.keep, root, args.database_url, name)
    elif name == "before":  # the same appliance from another tree, side by side
        if args.before_root is None:
            raise SystemExit("the target before needs --before-root")
        server = Appliance(args.python, args.keep, args.before_root, args.database_url)
        server.name = "before"
    elif name in BARE_TARGETS:
        server = BareServer(args.python, name)
    else:
        raise SystemExit(f"unknown target {name!r}")
    if args.gc_probe and isinstance(server, Appliance):  # bench/gcprobe/sitecustomize.py
        server.env["PYTHONPATH"] += os.pathsep + str(ROOT / "bench" / "gcprobe")
        server.env["APPLIANCE_GC_PROBE"] = str(server.data_dir / "gc.json")
    seeded = args.setup == "seed" and type(server) in (Appliance, PgAppliance)
    if seeded:
        server.seed_ids = every_charger(args)
    token = server.start() or None
    print(f"server {name}: pid {server.pid}, {server.url}"
          + (f", from {server.root}, data dir {server.data_dir}"
             if name in ("appliance", "before", "appliance-pg", "before-pg") else ""))
    return Target(name, server.url, token, server.pid, server, seeded)


def gc_probe_path(t: Target, args: argparse.Namespace) -> Path | None:
    if not args.gc_probe or t.server is None or "APPLIANCE_GC_PROBE" not in t.server.env:
        return None
    return Path(t.server.env["APPLIANCE_GC_PROBE"])


def charger_ids(args: argparse.Namespace, scenario: str) -> list[str]:
    n = args.saturation_chargers if scenario == "saturation" else args.chargers
    return [f"{args.prefix}-{i:05d}" for i in range(1, n + 1)]


def every_charger(args: argparse.Namespace) -> list[str]:
    """Every charger id a run uses, which its set-up registers."""
    every = charger_ids(args, "saturation" if args.saturation_chargers > args.chargers
                        else "steady") + ([flooder_id(args)] if args.scenario == NOISY else [])
    return every + ([probe_id(args)] if args.scenario == MONEY else [])


def run_all(targets: list[Target], args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Scenario by scenario, each against every target in turn, so that the noise of a shared
    machine falls on all of them alike; their figures by target and scenario."""
    rows: dict[str, dict[str, Any]] = {t.name: {} for t in targets}
    every = every_charger(args)
    for t in targets:
        if t.token and not t.seeded:
            t0 = time.monotonic()
            tags = [tag for cpid in every for tag in tags_of(cpid)]
            asyncio.run(setup_site(t.url, t.token, every, tags))
            print(f"set-up of {t.name}: {len(every)} stations (Basic auth, not managed), a site "
                  f"tariff, {len(every)} drivers with balances and {len(tags)} commercial cards "
                  f"registered through the API in {time.monotonic() - t0:.1f} s")
    if args.scenario == NOISY:
        for t in targets:
            ws_base = t.url.replace("http://", "ws://").replace("https://", "wss://") + "/ocpp"
            plan = argparse.Namespace(**{**vars(args), "interval": args.noisy_interval})
            runs = [run_scenario(NOISY, charger_ids(args, "steady"), plan, ws_base, t.pid,
                                 args.duration) for _ in range(args.noisy_runs)]
            print(f"\n[{t.name}]", end="")
            print_noisy(runs)
            rows[t.name][NOISY] = runs
        return rows
    chosen = {"all": SCENARIOS, COST: COST_KINDS}.get(args.scenario, (args.scenario,))
    for scenario in chosen:
        duration = {"steady": args.steady_duration, MONEY: args.steady_duration}.get(
            scenario, args.duration)
        for t in targets:
            ws_base = t.url.replace("http://", "ws://").replace("https://", "wss://") + "/ocpp"
            row = run_scenario(scenario, charger_ids(args, scenario), args, ws_base, t.pid,
                               duration, (t.url, t.token) if t.token else None,
                               t.server.db_cpu_s if t.server is not None else None,
                               gc_probe_path(t, args))
            print(f"\n[{t.name}]", end="")
            print_result(row)
            if scenario == MONEY:
                print_probe(row.get("probe"))
            rows[t.name][scenario] = row
    for t in targets:
        print(f"\n{t.name}:", end="")
        print_table(list(rows[t.name].values()))
        if t.server is not None:
            counts = t.server.log_counts()
            print(f"server log: {counts['ERROR']} ERROR and {counts['WARNING']} WARNING lines "
                  f"({t.server.log_path})")
            for row in rows[t.name].values():
                row["log_errors"] = counts["ERROR"]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chargers", type=int, default=200,
                        help="chargers of the boot and steady scenarios (the goals need 10000)")
    parser.add_argument("--saturation-chargers", type=int, default=200,
                        help="chargers of the saturation scenario")
    parser.add_argument("--processes", type=int, default=max(1, min(4, os.cpu_count() or 1)),
                        help="load processes (default: the number of cores, at most 4)")
    parser.add_argument("--duration", type=float, default=20.0,
                        help="seconds of the saturation scenario")
    parser.add_argument("--steady-duration", type=float, default=60.0,
                        help="seconds of the steady scenario")
    parser.add_argument("--scenario", choices=(*SCENARIOS, NOISY, COST, *COST_KINDS, MONEY,
                                               "all"),
                        default="all")
    parser.add_argument("--noisy-interval", type=float, default=1.0,
                        help="noisy: seconds between a steady charger's MeterValues")
    parser.add_argument("--noisy-runs", type=int, default=3,
                        help="noisy: runs, for a median and its spread")
    parser.add_argument("--targets", default="appliance,reference,echo",
                        help="comma-separated servers to measure, in order: appliance, "
                        "reference (bare ocpp library), echo (raw aiohttp), hostedN (N "
                        "processes on one PostgreSQL behind HAProxy; needs --database-url), "
                        "appliance-pg / before-pg (the single process on a fresh PostgreSQL "
                        "database: on --database-url's server, else on a throwaway cluster "
                        "with default durability that the script starts)")
    parser.add_argument("--interval", type=float, default=10.0,
                        help="steady: seconds between a charger's MeterValues (both connectors)")
    parser.add_argument("--heartbeat-every", type=int, default=6,
                        help="steady: a Heartbeat every this many intervals")
    parser.add_argument("--cycle", type=int, default=30,
                        help="steady: intervals per charging session")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for an answer")
    parser.add_argument("--url", help="a running appliance (http://127.0.0.1:PORT); default: "
                        "start one on a temporary data dir")
    parser.add_argument("--token", default=os.environ.get("APPLIANCE_TOKEN"),
                        help="API token for --url, to register stations and tags "
                        "(or APPLIANCE_TOKEN); without it the appliance must accept unknown "
                        "stations and tags are answered as it likes")
    parser.add_argument("--pid", type=int, help="the server's process id with --url, for RSS/CPU")
    parser.add_argument("--python", default=sys.executable,
                        help="Python that runs the servers (default: this one)")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="work tree the appliance runs from (e.g. an export of an older "
                        "commit, for before/after figures; default: this one)")
    parser.add_argument("--before-root", type=Path,
                        help="work tree of the target `before` (e.g. the code before a change): "
                        "`--targets appliance,before` measures both in the same run")
    parser.add_argument("--v201-share", type=float, default=0.0,
                        help="the share of chargers speaking OCPP 2.0.1 (0: all 1.6, 1: all "
                             "2.0.1, between: a mixed site)")
    parser.add_argument("--setup", choices=("seed", "api"), default="seed",
                        help="how a started appliance gets its stations, drivers and cards: "
                        "seed (bench/seed.py writes them into its database before it serves, "
                        "through the appliance's own functions: seconds at 10,000) or api "
                        "(through the JSON API once it serves: minutes at 10,000)")
    parser.add_argument("--prefix", default="BENCH", help="charge point id prefix")
    parser.add_argument("--gc-probe", action="store_true",
                        help="time the served appliances' garbage collections by generation "
                             "(bench/gcprobe) and print them per scenario")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    parser.add_argument("--database-url", help="the started appliance's database_url, e.g. an "
                        "empty postgresql:// database (default: SQLite in its data dir)")
    parser.add_argument("--one-core", action="store_true",
                        help="like the box: every server pinned to core 0 (taskset), this "
                        "script and its load processes to core 1; the goals become issue 24's "
                        "one-core goals (5,000 chargers)")
    parser.add_argument("--pi4-factor", type=float, default=PI4_FACTOR,
                        help="how many times slower a Pi 4 core runs the speed loop than this "
                        "machine's (measure it: --speed on both)")
    parser.add_argument("--speed", action="store_true",
                        help="only print this machine's single-core speed (the speed loop)")
    args = parser.parse_args(argv)
    if args.speed:
        print(f"single-core speed: {speed_loop():,.0f} speed loops/s "
              f"(Python {platform.python_version()}, {platform.machine()}); memory walk: "
              f"{memory_walk():,.0f} steps/s; socket round trips: {socket_trips():,.0f}/s")
        return 0

    print(f"bench/load.py on {platform.node()}: {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB, "
          f"{platform.platform()}, Python {platform.python_version()}, aiohttp "
          f"{aiohttp.__version__}")
    print(f"started {datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S')} UTC with: "
          f"{' '.join(sys.argv[1:]) or '(defaults)'}")
    raise_nofile(max(args.chargers, args.saturation_chargers), args.processes)
    speed = None
    if args.one_core:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2 or not shutil.which("taskset"):
            raise SystemExit("--one-core needs two cores and taskset")
        SERVER_CPUS[:] = [str(cpus[0])]
        os.sched_setaffinity(0, set(cpus[1:]))  # this script and its load processes
        speed = core_speed(cpus[0])
        print(f"one core: servers on core {cpus[0]}, load generator on "
              f"{','.join(map(str, cpus[1:]))}; single-core speed of core {cpus[0]}: "
              f"{speed:,.0f} speed loops/s")
    else:
        speed = core_speed(None)
        print(f"single-core speed: {speed:,.0f} speed loops/s")
    # Before any server starts: the figure is the machine's, not the bench's own load.
    print(f"memory walk: {memory_walk():,.0f} steps/s (a random walk over 150 MB); socket round "
          f"trips: {socket_trips():,.0f}/s (one-byte send and receive): the same core speed can "
          "come with slower memory or system calls on a busier day")
    targets: list[Target] = []
    try:
        for name in [t.strip() for t in args.targets.split(",") if t.strip()]:
            targets.append(start_target(name, args))
        results = run_all(targets, args)
    finally:
        for t in targets:
            if t.server is not None:
                t.server.stop()
        for cluster in PG_CLUSTER:
            cluster.stop()
    if args.scenario == NOISY:
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2, default=str))
        return 0
    print_ratios(results)
    print_pg_ratios(results)
    if any(k in rows for rows in results.values() for k in COST_KINDS):
        print_costs(results)
    app_rows = results.get("appliance", {})
    log_errors = next(iter(app_rows.values()), {}).get("log_errors")
    print("\ngoals (issue 24):")
    for verdict in judge(results, log_errors, args.one_core, speed, args.pi4_factor):
        print("  " + verdict)
    for verdict in judge_pg(results):
        print("  " + verdict)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
