"""One process of a hosted installation: its identity, the leases on its chargers' sockets,
its two PostgreSQL connections for LISTEN/NOTIFY (one listens, one sends), and the leader lock.

Messages are JSON on two kinds of channel: `appliance_events` (live events, fanned out to every
process) and one channel per process (commands for its chargers, their answers, "let this
charger go"). A message longer than a NOTIFY may carry goes in numbered parts, which arrive in
order because one connection sends them."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import json
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from appliance import events
from appliance.charging.control import ChargerControl, Write
from appliance.cluster import leases, wire
from appliance.db.database import Database
from appliance.db.maintenance import LEADER_LOCK
from appliance.db.models import utcnow
from appliance.errors import ChargerOffline, ChargerTimeout

if TYPE_CHECKING:  # psycopg is the `postgresql` extra: a box without it never makes a node
    import psycopg

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "appliance_events"
RENEW_S = 3.0  # leases are renewed this often ...
LEASE_TTL_S = 12.0  # ... and live this long without renewal (a dead process's chargers move)
LEADER_TRY_S = 2.0  # how often a follower tries the leader lock
PART_BYTES = 7000  # NOTIFY payloads must stay under 8000 bytes
# The desk reader belongs to the process it is plugged into; a LISTEN outage is one process's.
LOCAL_ONLY = (events.ReaderState, events.Resync)
# Every verb of the port, and nothing else, may be asked for by another process.
VERBS = frozenset(name for name, value in vars(ChargerControl).items()
                  if inspect.iscoroutinefunction(value))


def channel_of(process: str) -> str:
    return "ap_" + hashlib.sha1(process.encode()).hexdigest()[:24]


def new_process_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class Node:
    """This process among the others. `local` is the hub's ChargerControl (set by the wiring);
    `on_drop` closes a local socket another process has taken over."""

    def __init__(self, url: str, database: Database, bus: events.EventBus,
                 call_timeout_s: float) -> None:
        self.url, self.database, self.bus = url, database, bus
        self.process = new_process_id()
        self.channel = channel_of(self.process)
        self.call_timeout_s = call_timeout_s
        self.local: Any = None
        self.on_drop: Callable[[str], Awaitable[None]] | None = None
        self.is_leader = False
        self.leader_changed = asyncio.Event()
        self.mine: set[str] = set()  # charge point ids (upper case) whose sockets are here
        self._holders: dict[str, str] = {}  # other processes' chargers, as last heard
        self._waiting: dict[str, asyncio.Future[Any]] = {}
        self._parts: dict[str, list[str]] = {}
        self._outbox: list[dict[str, Any]] = []
        self._flushing = False
        self._send_lock = asyncio.Lock()
        self._sender: psycopg.AsyncConnection[Any] | None = None
        self._leader_conn: psycopg.AsyncConnection[Any] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- leases (the hub calls these) -----------------------------------------------------
    async def opened(self, cpid: str, station_id: int, version: str,
                     write: Write | None = None) -> None:
        self.mine.add(cpid.upper())
        args = (station_id, self.process, LEASE_TTL_S, utcnow(), version)
        previous = await (write(leases.claim, leases.claim_many, *args) if write is not None
                          else self.database.run(leases.claim, *args))
        if previous is not None:
            log.warning("%s: taken over from process %s", cpid, previous)
            await self._send(channel_of(previous), {"k": "drop", "cpid": cpid})

    def holds(self, cpid: str) -> bool:
        return cpid.upper() in self.mine

    async def closed(self, cpid: str, station_id: int) -> None:
        self.mine.discard(cpid.upper())
        await self.database.run(leases.release, station_id, self.process, utcnow())

    async def starting(self) -> None:
        await self.database.run(leases.offline_unleased, utcnow())

    def holder(self, cpid: str) -> str | None:
        return self._holders.get(cpid.upper())

    @property
    def chargers(self) -> int:
        return len(self.mine)

    # --- commands to another process --------------------------------------------------------
    async def request(self, cpid: str, verb: str, args: tuple[Any, ...]) -> Any:
        """Run a ChargerControl verb on the process holding `cpid`; its answer or its error
        comes back the same way (ChargerOffline 409, ChargerCallError 502, ChargerTimeout 504)."""
        process = self.holder(cpid)
        if process is None or process == self.process:
            process = await self.database.read(leases.holder, cpid, utcnow())
        if process is None or process == self.process:
            raise ChargerOffline(f"charger {cpid} is offline", details={"station_id": cpid})
        ident = secrets.token_hex(8)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        try:
            await self._send(channel_of(process), {
                "k": "cmd", "id": ident, "from": self.channel, "verb": verb,
                "args": wire.encode([cpid, *args])})
            # The other process waits call_timeout for the charger; a dead one never answers.
            answer = await asyncio.wait_for(future, self.call_timeout_s + 3.0)
        except TimeoutError as err:
            raise ChargerTimeout(f"charger {cpid} did not answer {verb} in "
                                 f"{self.call_timeout_s:g} s (process {process})") from err
        finally:
            self._waiting.pop(ident, None)
        if "err" in answer:
            raise wire.decode_error(answer["err"])
        return wire.decode(answer["ok"])

    async def _serve(self, message: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"k": "reply", "id": message["id"]}
        try:
            verb = str(message["verb"])
            if verb not in VERBS or self.local is None:
                raise ValueError(f"unknown verb {verb!r}")
            args = wire.decode(message["args"])
            reply["ok"] = wire.encode(await getattr(self.local, verb)(*args))
        except Exception as err:  # every error goes back to the caller, as it is
            reply["err"] = wire.encode_error(err)
        await self._send(str(message["from"]), reply)

    # --- live events ------------------------------------------------------------------------
    def forward(self, event: events.Event) -> None:
        """The bus's hook: every event published here goes to the other processes too."""
        if isinstance(event, LOCAL_ONLY) or (isinstance(event, events.TagSeen)
                                             and event.source == "reader"):
            return
        self._outbox.append(wire.encode_event(event))
        if not self._flushing:
            self._flushing = True
            self._spawn(self._flush_events())

    async def _flush_events(self) -> None:
        try:
            await asyncio.sleep(0.01)  # what arrives meanwhile goes in the same NOTIFY
            while self._outbox:
                batch, self._outbox = self._outbox, []
                await self._send(EVENTS_CHANNEL, {"k": "ev", "o": self.process, "e": batch})
        except Exception:
            log.exception("live events could not go to the other processes")
        finally:
            self._flushing = False

    def _deliver_events(self, message: dict[str, Any]) -> None:
        origin = str(message.get("o"))
        if origin == self.process:
            return
        for body in message.get("e", []):
            try:
                event = wire.decode_event(body)
            except (ValueError, TypeError, KeyError):
                log.warning("an event from %s could not be read: %.200s", origin, body)
                continue
            if isinstance(event, events.StationOnline):
                key = event.station_id.upper()
                if event.online:
                    self._holders[key] = origin
                elif self._holders.get(key) == origin:
                    del self._holders[key]
            self.bus.deliver(event)

    # --- NOTIFY -----------------------------------------------------------------------------
    async def _send(self, channel: str, message: dict[str, Any]) -> None:
        text = wire.dumps(message)
        if len(text.encode()) <= PART_BYTES:
            payloads = [text]
        else:
            ident = secrets.token_hex(6)
            chunks = [text[i:i + PART_BYTES // 4] for i in range(0, len(text), PART_BYTES // 4)]
            payloads = [wire.dumps({"k": "part", "id": ident, "n": i, "of": len(chunks),
                                    "d": chunk}) for i, chunk in enumerate(chunks)]
        import psycopg

        async with self._send_lock:
            for attempt in range(2):
                try:
                    if self._sender is None or self._sender.closed:
                        self._sender = await psycopg.AsyncConnection.connect(
                            self.url, autocommit=True, application_name="appliance-notify")
                    async with self._sender.cursor() as cur:
                        for payload in payloads:
                            await cur.execute("SELECT pg_notify(%s, %s)", (channel, payload))
                    return
                except psycopg.OperationalError:
                    if attempt:
                        raise
                    self._sender = None

    def _received(self, channel: str, payload: str) -> None:
        try:
            message = json.loads(payload)
        except ValueError:
            log.warning("an unreadable message on %s", channel)
            return
        kind = message.get("k")
        if kind == "part":
            parts = self._parts.setdefault(message["id"], [])
            parts.append(message["d"])
            if len(parts) < message["of"]:
                return
            del self._parts[message["id"]]
            self._received(channel, "".join(parts))
        elif kind == "ev":
            self._deliver_events(message)
        elif kind == "cmd":
            self._spawn(self._serve(message))
        elif kind == "reply":
            future = self._waiting.get(message["id"])
            if future is not None and not future.done():
                future.set_result(message)
        elif kind == "drop" and self.on_drop is not None:
            self._spawn(self.on_drop(str(message["cpid"])))

    async def _listen(self, ready: asyncio.Event) -> None:
        import psycopg
        from psycopg import sql

        listened = False
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, application_name="appliance-listen")
                async with conn:
                    for name in (EVENTS_CHANNEL, self.channel):
                        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(name)))
                    ready.set()
                    if listened:  # what the others sent meanwhile is lost: read state again
                        log.warning("the LISTEN connection is back; state kept from events "
                                    "is read again")
                        self.bus.deliver(events.Resync(), here=True)
                    listened = True
                    async for note in conn.notifies():
                        self._received(note.channel, note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.warning("the LISTEN connection failed (%s); again in 1 s", err)
                await asyncio.sleep(1.0)

    # --- leases, kept alive; the leader ---------------------------------------------------------
    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(RENEW_S)
            try:
                now = utcnow()
                await self.database.run(leases.renew, self.process, LEASE_TTL_S, now)
                held = await self.database.read(leases.holders, now)
                self._holders = {k: v for k, v in held.items() if v != self.process}
                if self.is_leader:
                    for cpid in await self.database.run(leases.expire, now):
                        log.info("%s: its process stopped renewing; offline", cpid)
                        self.bus.publish(events.StationOnline(cpid, False))
            except Exception:
                log.exception("renewing this process's leases failed")

    async def _lead(self) -> None:
        """Hold the advisory lock on a connection of its own: it is the installation's leader
        while the connection lives (a process that dies drops it, and another takes it)."""
        import psycopg

        while True:
            try:
                if self._leader_conn is None or self._leader_conn.closed:
                    self._leader_conn = await psycopg.AsyncConnection.connect(
                        self.url, autocommit=True, application_name="appliance-leader")
                if self.is_leader:
                    await self._leader_conn.execute("SELECT 1")
                else:
                    cur = await self._leader_conn.execute("SELECT pg_try_advisory_lock(%s)",
                                                          (LEADER_LOCK,))
                    row = await cur.fetchone()
                    if row and row[0]:
                        log.info("this process (%s) leads the installation", self.process)
                        self._set_leader(True)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                if self.is_leader:
                    log.warning("lost the leader lock: %s", err)
                    self._set_leader(False)
                self._leader_conn = None
            await asyncio.sleep(LEADER_TRY_S)

    def _set_leader(self, leader: bool) -> None:
        self.is_leader = leader
        self.leader_changed.set()
        self.leader_changed = asyncio.Event()

    # --- life cycle -----------------------------------------------------------------------------
    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Node]:
        ready = asyncio.Event()
        loops = [asyncio.create_task(self._listen(ready), name="cluster-listen"),
                 asyncio.create_task(self._renew(), name="cluster-leases"),
                 asyncio.create_task(self._lead(), name="cluster-leader")]
        await asyncio.wait_for(ready.wait(), 30)
        self.bus.forward = self.forward
        try:
            yield self
        finally:
            self.bus.forward = None
            for task in [*loops, *self._tasks]:
                task.cancel()
            await asyncio.gather(*loops, *self._tasks, return_exceptions=True)
            for conn in (self._sender, self._leader_conn):
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
