"""Keeping chargers' local lists true: at each boot or reconnection the charger's list version is
checked (the whole list sent again when it is not the one the box set), and a change to cards
reaches every connected charger at once. Commands go through the `ChargerControl` port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from appliance import events
from appliance.billing import locallist
from appliance.charging.control import ChargerControl
from appliance.db.database import Database
from appliance.db.models import utcnow
from appliance.db.site import site_value
from appliance.errors import ApplianceError, ChargerCallError, Text
from appliance.events import EventBus

log = logging.getLogger(__name__)

RETRY_S = 300.0  # lists not known to be current are tried again this often
DEFAULT_SEND_MAX = 100  # parts when the charger does not say SendLocalListMaxLength
SEND_KEY, LENGTH_KEY = "SendLocalListMaxLength", "LocalAuthListMaxLength"


def _number(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


class WantedCache:
    """The wanted list, read once for a burst of syncs (a boot storm) and dropped when cards
    change or after a few seconds (expiry dates move on)."""

    TTL_S = 5.0

    def __init__(self) -> None:
        self._value: dict[str, locallist.Entry] | None = None
        self._at = 0.0

    def clear(self) -> None:
        self._value = None

    async def get(self, database: Database) -> dict[str, locallist.Entry]:
        now = asyncio.get_running_loop().time()
        if self._value is None or now - self._at > self.TTL_S:
            self._value = await database.read(locallist.wanted, utcnow())
            self._at = now
        return self._value


async def sync(control: ChargerControl, database: Database, cpid: str,
               cache: WantedCache | None = None) -> bool | None:
    """Bring one charger's list up to date. Returns whether it is current (None: not managed,
    or the charger has no local list)."""
    held = await database.read_gathered(locallist.held_many, cpid)
    if held is None or not await database.read(site_value, "local_lists", True):
        return None
    try:
        try:
            version = await control.get_local_list_version(cpid)
        except ChargerCallError:  # NotSupported, NotImplemented: a charger without the profile
            version = -1
        if version < 0:
            await database.run(locallist.record_outcome, held.station_id, False, 0, None,
                               locallist.NO_LIST)
            return None
        config = await control.get_configuration(cpid, [SEND_KEY, LENGTH_KEY])
        send_max = _number(config.value(SEND_KEY)) or DEFAULT_SEND_MAX
        max_length = _number(config.value(LENGTH_KEY))
        want = await (cache or WantedCache()).get(database)
        parts, complete = locallist.plan(held, version, want, send_max, max_length)
        entries = held.entries
        for part in parts:
            status = await control.send_local_list(
                cpid, part.version, locallist.entries_of(part, entries), part.full)
            if status != "Accepted":
                await database.run(locallist.record_outcome, held.station_id, False, len(want),
                                   max_length, Text(locallist.REFUSED, status=status))
                if status == "VersionMismatch":  # start again from a full list next time
                    await database.run(locallist.record_part, held.station_id,
                                       locallist.Part(0, True, {}), {})
                return False
            entries = await database.run(locallist.record_part, held.station_id, part, entries)
        problem = "" if complete else locallist.TOO_MANY
        await database.run(locallist.record_outcome, held.station_id, complete, len(want),
                           max_length, problem)
        if parts:
            log.info("%s: local list now version %s (%d parts)", cpid, parts[-1].version,
                     len(parts))
        return complete
    except ApplianceError as err:
        log.info("%s: local list not synchronised: %s", cpid, err.message)
        await database.run(locallist.record_outcome, held.station_id, False, 0, None,
                           err.message)
        return False


class ListKeeper:
    """Runs `sync` for a charger when it boots or reconnects, and for every connected managed
    charger when cards change; one sync per charger at a time, a later request coalesced."""

    def __init__(self, control: ChargerControl, database: Database, bus: EventBus) -> None:
        self.control, self.database, self.bus = control, database, bus
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self.cache = WantedCache()

    def request(self, cpid: str) -> None:
        key = cpid.upper()
        if key in self._tasks:
            self._again.add(key)
            return
        self._tasks[key] = asyncio.create_task(self._run(cpid, key), name=f"local-list-{cpid}")

    async def _run(self, cpid: str, key: str) -> None:
        try:
            while True:
                self._again.discard(key)
                if self.control.is_online(cpid):
                    await sync(self.control, self.database, cpid, self.cache)
                if key not in self._again:
                    return
        except Exception:
            log.exception("%s: local list sync failed", cpid)
        finally:
            self._tasks.pop(key, None)

    async def _listen(self) -> None:
        async with self.bus.subscribe((events.StationBooted, events.StationOnline,
                                       events.CardsChanged)) as queue:
            while True:
                event = await queue.get()
                if isinstance(event, events.StationBooted) and event.registration == "Accepted":
                    self.request(event.station_id)
                elif isinstance(event, events.StationOnline) and event.online:
                    self.request(event.station_id)
                elif isinstance(event, events.CardsChanged):
                    self.cache.clear()
                    for cpid in await self.database.read(locallist.managed_online_cpids):
                        self.request(cpid)

    async def _retry(self) -> None:
        while True:
            await asyncio.sleep(RETRY_S)
            try:
                for cpid in await self.database.read(locallist.behind_cpids):
                    self.request(cpid)
            except Exception:
                log.exception("local lists: retry round failed")

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ListKeeper]:
        listener = asyncio.create_task(self._listen(), name="local-lists")
        retry = asyncio.create_task(self._retry(), name="local-lists-retry")
        try:
            yield self
        finally:
            listener.cancel()
            retry.cancel()
            for task in [listener, retry, *self._tasks.values()]:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
