"""The load loop: keeps each group's sessions, recomputes the allocation on every start, stop
and meaningful meter change, and sends what changed as charging profiles through
`ChargerControl` (less first, then more, so the sum stays under the limit while it changes).
Each charger of a group also gets a safe default profile whenever it boots or reconnects. A
charger that refuses a profile is flagged and counted at its full power from then on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from appliance import events
from appliance.charging.control import ChargerControl, ChargingLimit
from appliance.db.database import Database
from appliance.errors import ApplianceError, ChargerOffline
from appliance.events import EventBus
from appliance.power import groups as store
from appliance.power.allocate import Demand, allocate, phases_of, used_a

log = logging.getLogger(__name__)

RECONCILE_S = 300.0  # groups and sessions read again this often
MEANINGFUL_A = 1.0  # a change of draw smaller than this changes nothing
DEFAULT_PROFILE_ID = 1
SESSION_PROFILE_BASE = 100  # a session's profile id: base + connector
# The kinds of event `on_event` acts on: the bus wakes the listener for these only.
LISTENS_TO: tuple[type[events.Event], ...] = (
    events.SessionStarted, events.SessionStopped, events.SessionMeter, events.StationBooted,
    events.StationOnline, events.PowerConfigChanged, events.Resync)


@dataclass(frozen=True)
class Tx:
    cpid: str
    connector_id: int
    transaction_id: int
    session_id: int


def changes(sent: dict[str, float], allowed: dict[str, float], fixed: set[str]
            ) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """What to send to make `sent` equal `allowed` (keys in `fixed`, refusing chargers, get
    nothing): (decreases, increases), each sorted by key."""
    down: list[tuple[str, float]] = []
    up: list[tuple[str, float]] = []
    for key, amps in sorted(allowed.items()):
        if key in fixed or sent.get(key) == amps:
            continue
        (down if amps < sent.get(key, float("inf")) else up).append((key, amps))
    return down, up


class PowerManager:
    def __init__(self, control: ChargerControl, database: Database, bus: EventBus,
                 delay_s: float = 0.05) -> None:
        self.control, self.database, self.bus, self.delay_s = control, database, bus, delay_s
        self.groups: dict[int, store.Group] = {}
        self.group_of: dict[str, int] = {}  # CPID (upper) -> group id
        self.demands: dict[int, dict[str, Demand]] = {}  # group -> key -> demand
        self.txs: dict[str, Tx] = {}  # key "CPID/connector" -> its transaction
        self.sent: dict[str, float] = {}  # key -> the limit the charger accepted
        self.snapshot: dict[str, dict[str, Any]] = {}  # group name -> the last allocation
        self._order = 0
        self._dirty: set[int] = set()
        self._wake = asyncio.Event()
        self._work: set[asyncio.Task[Any]] = set()

    # --- state ------------------------------------------------------------------------------
    @staticmethod
    def key(cpid: str, connector_id: int) -> str:
        return f"{cpid.upper()}/{connector_id}"

    async def reload(self) -> None:
        """Groups and active sessions from the database (at start, on a change of groups, and
        now and then: a session event lost from a full queue heals). What chargers reported
        of their draw is kept."""
        measured = {k: (d.drawn_a, d.phases) for ds in self.demands.values()
                    for k, d in ds.items()}
        loaded = await self.database.read(store.load_groups)
        self.groups = {g.id: g for g in loaded}
        self.group_of = {cpid: g.id for g in loaded for cpid in g.members}
        self.demands = {g.id: {} for g in loaded}
        self.txs.clear()
        for s in await self.database.read(store.active_sessions):
            gid = self._add(s)
            key = self.key(s.cpid, s.connector_id)
            if gid is not None and key in measured:
                drawn, phases = measured[key]
                self.demands[gid][key] = replace(self.demands[gid][key], drawn_a=drawn,
                                                 phases=phases)
        self.sent = {k: a for k, a in self.sent.items() if k in self.txs}
        self._dirty.update(self.groups)
        self._wake.set()

    async def _reconcile(self) -> None:
        while True:
            await asyncio.sleep(RECONCILE_S)
            try:
                await self.reload()
            except Exception:
                log.exception("load management: reconcile failed")

    def _add(self, s: store.ActiveSession) -> int | None:
        gid = self.group_of.get(s.cpid.upper())
        if gid is None:
            return None
        group = self.groups[gid]
        key = self.key(s.cpid, s.connector_id)
        self._order += 1
        cpid = s.cpid.upper()
        self.demands[gid][key] = Demand(key, self._order, group.members[cpid],
                                        commercial=s.commercial, refused=cpid in group.refused)
        self.txs[key] = Tx(s.cpid, s.connector_id, s.transaction_id, s.session_id)
        return gid

    def _remove(self, cpid: str, transaction_id: int) -> int | None:
        for key, tx in list(self.txs.items()):
            if tx.cpid.upper() == cpid.upper() and tx.transaction_id == transaction_id:
                del self.txs[key]
                self.sent.pop(key, None)
                gid = self.group_of.get(cpid.upper())
                if gid is not None:
                    self.demands[gid].pop(key, None)
                return gid
        return None

    def _mark(self, gid: int | None) -> None:
        if gid is not None:
            self._dirty.add(gid)
            self._wake.set()

    # --- events -----------------------------------------------------------------------------
    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.SessionStarted):
            if event.station_id.upper() not in self.group_of:
                return  # no load management there: nothing to read
            s = await self.database.read(store.session_by_tx, event.station_id,
                                         event.transaction_id)
            if s is not None:
                self._mark(self._add(s))
        elif isinstance(event, events.SessionStopped):
            self._mark(self._remove(event.station_id, event.transaction_id))
        elif isinstance(event, events.SessionMeter):
            await self._metered(event)
        elif isinstance(event, events.StationBooted | events.StationOnline):
            if getattr(event, "online", True) and event.station_id.upper() in self.group_of:
                self._spawn(self._charger_back(event.station_id))
        elif isinstance(event, events.Resync):
            await self.reload()  # the other processes' session events may have been lost
        elif isinstance(event, events.PowerConfigChanged):
            await self.reload()
            # A new limit or a new member changes every charger's safe default.
            for cpid in self.group_of:
                if self.control.is_online(cpid):
                    self._spawn(self._charger_back(cpid))

    async def _metered(self, event: events.SessionMeter) -> None:
        key = self.key(event.station_id, event.connector_id)
        gid = self.group_of.get(event.station_id.upper())
        if gid is None or key not in self.demands[gid]:
            return
        demand = self.demands[gid][key]
        currents = await self.database.read(store.phase_currents, event.session_id)
        if currents is not None:
            drawn = max(c for c in currents if c is not None)
            phases = phases_of(currents)
        elif event.power_w is not None:
            group = self.groups[gid]
            drawn = event.power_w / (230.0 * max(1, group.phases))
            phases = demand.phases
        else:
            return
        old = demand.drawn_a
        if old is None or abs(drawn - old) >= MEANINGFUL_A or phases != demand.phases:
            self.demands[gid][key] = replace(demand, drawn_a=drawn, phases=phases)
            self._mark(gid)

    async def _charger_back(self, cpid: str) -> None:
        """A group's charger booted or reconnected: its safe default, then its sessions'
        limits again."""
        gid = self.group_of.get(cpid.upper())
        if gid is None:
            return
        group = self.groups[gid]
        limit = ChargingLimit(group.safe_default_a(), profile_id=DEFAULT_PROFILE_ID)
        try:
            status = await self.control.set_charging_limit(cpid, limit)
        except ApplianceError as err:
            log.info("%s: default profile not set: %s", cpid, err.message)
            return
        if status != "Accepted":
            await self._refused(cpid, status)
        for key, tx in self.txs.items():
            if tx.cpid.upper() == cpid.upper():
                self.sent.pop(key, None)
        self._mark(gid)

    async def _refused(self, cpid: str, why: str) -> None:
        log.warning("%s: refuses charging profiles (%s): counted at full power", cpid, why)
        gid = self.group_of.get(cpid.upper())
        if gid is None:
            return
        self.groups[gid].refused.add(cpid.upper())
        for key, d in list(self.demands[gid].items()):
            if key.startswith(cpid.upper() + "/"):
                self.demands[gid][key] = replace(d, refused=True)
                self.sent.pop(key, None)
        await self.database.run(store.mark_refused, cpid, True)
        self._mark(gid)

    # --- recomputation ----------------------------------------------------------------------
    def compute(self, gid: int) -> dict[str, float]:
        group = self.groups[gid]
        demands = list(self.demands[gid].values())
        allowed = allocate(group.limits, demands)
        self.snapshot[group.name] = {
            "limit_a": group.limits.limit_a, "min_a": group.limits.min_a,
            "used_a": max(used_a(demands, allowed)), "allowed": dict(allowed),
            "refused": sorted(group.refused), "waiting": sorted(k for k, a in allowed.items()
                                                                if a == 0)}
        return allowed

    async def recompute(self, gid: int) -> None:
        allowed = self.compute(gid)
        group = self.groups[gid]
        fixed = {k for k, d in self.demands[gid].items() if d.refused}
        down, up = changes(self.sent, allowed, fixed)
        for batch in (down, up):
            await asyncio.gather(*(self._send(k, a) for k, a in batch))
        snap = self.snapshot[group.name]
        self.bus.publish(events.PowerAllocated(group.name, group.limits.limit_a,
                                               snap["used_a"], snap["allowed"]))

    async def _send(self, key: str, amps: float) -> None:
        tx = self.txs.get(key)
        if tx is None:
            return
        limit = ChargingLimit(amps, session=str(tx.transaction_id),
                              connector_id=tx.connector_id,
                              profile_id=SESSION_PROFILE_BASE + tx.connector_id)
        try:
            status = await self.control.set_charging_limit(tx.cpid, limit)
        except ChargerOffline:
            return  # its default keeps it safe; it gets its limit again when back
        except ApplianceError as err:
            await self._refused(tx.cpid, err.message)
            return
        if status == "Accepted":
            self.sent[key] = amps
        else:
            await self._refused(tx.cpid, status)

    # --- life cycle -------------------------------------------------------------------------
    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._work.add(task)
        task.add_done_callback(self._work.discard)

    def _concerns(self, event: events.Event) -> bool:
        """Whether to wake for this event: not for the meter values of a charger in no power
        group (`_metered` would do nothing with them; on most sites, all of them)."""
        return not isinstance(event, events.SessionMeter) or \
            event.station_id.upper() in self.group_of

    async def _listen(self) -> None:
        async with self.bus.subscribe(LISTENS_TO, self._concerns) as queue:
            while True:
                event = await queue.get()
                try:
                    await self.on_event(event)
                except Exception:
                    log.exception("load management: event %s", type(event).__name__)

    async def _compute_loop(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.delay_s)  # a burst of events is one recomputation
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            for gid in dirty:
                if gid in self.groups:
                    try:
                        await self.recompute(gid)
                    except Exception:
                        log.exception("load management: group %s", gid)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[PowerManager]:
        await self.reload()
        tasks = [asyncio.create_task(self._listen(), name="power-events"),
                 asyncio.create_task(self._compute_loop(), name="power-compute"),
                 asyncio.create_task(self._reconcile(), name="power-reconcile")]
        try:
            yield self
        finally:
            for task in [*tasks, *self._work]:
                task.cancel()
            for task in [*tasks, *self._work]:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
