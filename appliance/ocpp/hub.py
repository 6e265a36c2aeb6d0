"""The hub of connected chargers: one live connection per charge point id, the `ChargerControl`
port over them, and the frame log written in batches. The verbs whose answers are kept are in
`hub_kept.py`, the security profile change in `hub_upgrade.py`."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from appliance import events
from appliance.billing import cards
from appliance.billing import commands as billing_commands
from appliance.charging import frame_log, metering, sessions, stations
from appliance.charging.control import (
    CertificateId,
    CertificateKind,
    ChargerLeases,
    ChargingLimit,
    Configuration,
    InstalledCertificates,
    ListEntry,
    Trigger,
)
from appliance.config import Settings
from appliance.db.models import utcnow
from appliance.errors import ChargerOffline, InvalidInput, NotFound
from appliance.ocpp import commands16, commands201, validation
from appliance.ocpp.batch import Liveness, ReportWriter
from appliance.ocpp.hub_kept import KeptVerbs
from appliance.ocpp.hub_upgrade import PROFILE_WAIT_S, ProfileUpgrade
from appliance.ocpp.protocol import Connection, redact
from appliance.ocpp.v16 import ChargePoint16, Services
from appliance.ocpp.v201 import ChargePoint201

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.5
SILENCE_SWEEP_S = 5.0  # how often silent sockets are looked for (limits are 30 s and more)


# Sent only by a charger, though the box does not answer them with more than the library's
# NotImplemented; and sent either way.
CHARGER_SENDS = frozenset({"ClearedChargingLimit", "NotifyEVChargingNeeds",
                           "NotifyEVChargingSchedule", "PublishFirmwareStatusNotification"})
BOTH_WAYS = frozenset({"DataTransfer"})
# Configuration values a connection keeps once learned (`configuration_value`): the QR start
# reads ConnectionTimeOut on every start, and asking the charger each time is a round trip.
REMEMBERED_KEYS = frozenset({"ConnectionTimeOut"})
# Raw calls that may change a charger's configuration behind the hub's back.
CHANGING_ACTIONS = frozenset({"ChangeConfiguration", "SetVariables", "Reset"})


def _report(reports: ReportWriter, source: str, fn: Any, many: Any, *args: Any) -> Any:
    """`fn(*args)` through the report writer with its set-based form `many` (a `Write`)."""
    return reports.run(fn, *args, many=many, source=source)


def silence_limit(conn: Any, settings: Settings) -> float:
    """Offline after twice the interval we gave it plus 30 s: a station that is not Accepted
    has the short pending interval, so a silent pending socket goes soon."""
    interval = settings.heartbeat_interval if conn.registration == "Accepted" \
        else settings.pending_interval
    return 2 * interval + 30


def raw_actions() -> dict[str, list[str]]:
    """Each version's actions the box may send (the raw command endpoint's): every action the
    version has, less those only a charger sends (the ones our handlers answer)."""
    out = {}
    for version, cls in (("1.6", ChargePoint16), ("2.0.1", ChargePoint201)):
        answered = {getattr(f, "_on_action", None) for f in vars(cls).values()}
        out[version] = sorted((validation.actions(version) - answered - CHARGER_SENDS)
                              | BOTH_WAYS)
    return out


class Hub(KeptVerbs, ProfileUpgrade):
    """Implements `ChargerControl` over the live connections."""

    def __init__(self, services: Services) -> None:
        if services.reports is None:
            services = replace(services, reports=ReportWriter(services.database),
                               liveness=Liveness(services.database))
        self.services = replace(services, configuration_seen=self.remember)
        self._connections: dict[str, Connection] = {}
        # What each live connection told us of REMEMBERED_KEYS (by charge point id): forgotten
        # with the connection, so a charger that reconnects is asked again.
        self._remembered: dict[str, dict[str, str | None]] = {}
        self._asking: dict[tuple[str, str], asyncio.Future[Configuration]] = {}
        self._frames: dict[int, list[tuple[str, str, str]]] = {}  # station -> (at, dir, frame)
        self._since_trim: dict[int, int] = {}  # frames written per station since its last trim
        self._flusher: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._watches: set[asyncio.Task[None]] = set()  # security profile upgrades
        self.profile_wait_s = PROFILE_WAIT_S
        # Hosted (many processes): the lease keeper that records which process holds a socket.
        self.leases: ChargerLeases | None = None

    # --- registry -----------------------------------------------------------------------------
    def register(self, conn: Connection) -> Connection | None:
        """Make `conn` the station's connection; returns the one it replaces."""
        key = conn.id.upper()
        old = self._connections.get(key)
        self._connections[key] = conn
        self._remembered.pop(key, None)
        return old

    def unregister(self, conn: Connection) -> bool:
        """Forget `conn` if it is still the current one (a replaced socket touches nothing)."""
        key = conn.id.upper()
        if self._connections.get(key) is conn:
            del self._connections[key]
            self._remembered.pop(key, None)
            return True
        return False

    def get(self, cpid: str) -> Connection | None:
        return self._connections.get(cpid.upper())

    def is_online(self, cpid: str) -> bool:
        return cpid.upper() in self._connections

    def _require(self, cpid: str) -> Connection:
        conn = self.get(cpid)
        if conn is None:
            raise ChargerOffline(f"charger {cpid} is offline",
                                 details={"station_id": cpid})
        return conn

    # --- ChargerControl -----------------------------------------------------------------------
    async def raw(self, cpid: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        conn = self._require(cpid)
        if isinstance(conn, ChargePoint201):
            # The money and key rules read 1.6's terms; a 2.0.1 command is put in them.
            as16 = commands201.raw_in_16_terms(action, payload)
            if as16 is not None:
                await self.services.database.run(billing_commands.check_raw_command, cpid,
                                                 *as16)
        if action in CHANGING_ACTIONS:
            self._remembered.pop(conn.id.upper(), None)
        return await conn.call(action, payload)

    def _commands(self, cpid: str) -> Any:
        """The verb mapping of the version the charger speaks now."""
        return commands201 if isinstance(self._require(cpid), ChargePoint201) else commands16

    async def _status(self, cpid: str, call: commands16.Call) -> str:
        return str(self._commands(cpid).status(await self._require(cpid).call(*call)))

    async def remote_start(self, cpid: str, connector_id: int, id_tag: str) -> str:
        if isinstance(self._require(cpid), ChargePoint201):
            kind = await self._token_type(id_tag)
            return await self._status(cpid, commands201.remote_start(connector_id, id_tag,
                                                                     kind))
        return await self._status(cpid, commands16.remote_start(connector_id, id_tag))

    async def _token_type(self, id_tag: str) -> str:
        """The card's own kind of token (Central for a token of the box's own, a QR start's)."""
        return str(await self.services.database.read(cards.token_type_of, id_tag))

    async def remote_stop(self, cpid: str, transaction_id: int) -> str:
        conn = self._require(cpid)
        if not isinstance(conn, ChargePoint201):
            return await self._status(cpid, commands16.remote_stop(transaction_id))
        # 2.0.1 stops by the charger's own transaction id.
        reference = await self.services.database.read(sessions.reference_of, conn.station_id,
                                                      transaction_id)
        if reference is None:
            raise NotFound(f"charger {cpid} has no transaction {transaction_id}")
        return await self._status(cpid, commands201.remote_stop(reference))

    async def reset(self, cpid: str, hard: bool) -> str:
        return await self._status(cpid, self._commands(cpid).reset(hard))

    async def unlock(self, cpid: str, connector_id: int, evse_connector: int = 1) -> str:
        if isinstance(self._require(cpid), ChargePoint201):
            return await self._status(cpid, commands201.unlock(connector_id, evse_connector))
        if evse_connector != 1:
            raise InvalidInput("an OCPP 1.6 charger has one connector per connector id",
                               details={"field": "evse_connector"})
        return await self._status(cpid, commands16.unlock(connector_id))

    async def set_availability(self, cpid: str, connector_id: int, operative: bool) -> str:
        return await self._status(cpid, self._commands(cpid).set_availability(connector_id,
                                                                               operative))

    async def trigger(self, cpid: str, message: Trigger, connector_id: int | None = None) -> str:
        return await self._status(cpid, self._commands(cpid).trigger(message, connector_id))

    async def clear_cache(self, cpid: str) -> str:
        return await self._status(cpid, self._commands(cpid).clear_cache())

    async def get_configuration(self, cpid: str, keys: list[str] | None = None) -> Configuration:
        conn = self._require(cpid)
        if isinstance(conn, ChargePoint201):
            found = await conn.configuration(keys)
        else:
            found = commands16.configuration(
                await conn.call(*commands16.get_configuration(keys)))
        self.remember(conn, {item.key: item.value for item in found.items})
        return found

    async def configuration_value(self, cpid: str, key: str) -> str | None:
        if key not in REMEMBERED_KEYS:
            return (await self.get_configuration(cpid, [key])).value(key)
        known = self._remembered.get(cpid.upper(), {})
        if key in known:
            return known[key]
        # One question at a time per charger and key: a start page that asked ahead (on its
        # view) and the start itself share the answer.
        asking = self._asking.get((cpid.upper(), key))
        if asking is None or asking.done():
            asking = asyncio.ensure_future(self.get_configuration(cpid, [key]))
            self._asking[(cpid.upper(), key)] = asking
            asking.add_done_callback(lambda done: self._asked(cpid.upper(), key, done))
        return (await asyncio.shield(asking)).value(key)

    def _asked(self, cpid: str, key: str, done: asyncio.Future[Configuration]) -> None:
        if self._asking.get((cpid, key)) is done:
            del self._asking[(cpid, key)]
        if not done.cancelled():
            done.exception()  # seen by whoever awaited it; never "never retrieved"

    def remember(self, conn: Connection, values: dict[str, Any]) -> None:
        """Keep what a live connection told us (or accepted) of REMEMBERED_KEYS. A value from a
        connection already replaced is dropped: the new one has not said it."""
        key = conn.id.upper()
        kept = {k: (None if v is None else str(v)) for k, v in values.items()
                if k in REMEMBERED_KEYS}
        if kept and self._connections.get(key) is conn:
            self._remembered.setdefault(key, {}).update(kept)

    async def change_configuration(self, cpid: str, key: str, value: str) -> str:
        conn = self._require(cpid)
        status = await self._status(cpid, self._commands(cpid).change_configuration(key, value))
        self._changed(conn, {key: status}, {key: value})
        return status

    def _changed(self, conn: Connection, statuses: dict[str, str], values: dict[str, str]
                 ) -> None:
        """After our own change: an Accepted value is the charger's now; any other answer
        (RebootRequired, Rejected) leaves it unknown until asked again."""
        self.remember(conn, {k: values[k] for k, s in statuses.items() if s == "Accepted"})
        known = self._remembered.get(conn.id.upper())
        if known is not None:
            for k, s in statuses.items():
                if s != "Accepted":
                    known.pop(k, None)

    async def change_configurations(self, cpid: str, values: dict[str, str]) -> dict[str, str]:
        if any(commands201.component_variable(k) == commands201.KEYS["AuthorizationKey"]
               for k in values):
            raise InvalidInput("the station's key is changed with POST /stations/{id}/rotate-key, "
                               "which keeps the old key working until the charger uses the new "
                               "one", details={"field": "values"})
        conn = self._require(cpid)
        if isinstance(conn, ChargePoint201):
            statuses = await conn.set_variables(values)
        else:
            statuses = {key: await self._status(cpid, commands16.change_configuration(key, value))
                        for key, value in values.items()}
        self._changed(conn, statuses, values)
        return statuses

    async def device_report(self, cpid: str, criteria: list[str], keys: list[str]
                            ) -> dict[str, dict[str, Any]]:
        return await self._only201(cpid, "GetReport").report(criteria, keys)

    async def set_auth_key(self, cpid: str, key: str) -> str:
        return await self._status(cpid, self._commands(cpid).set_auth_key(key))

    async def get_local_list_version(self, cpid: str) -> int:
        commands = self._commands(cpid)
        return int(commands.list_version(
            await self._require(cpid).call(*commands.get_local_list_version())))

    async def send_local_list(self, cpid: str, version: int, entries: list[ListEntry],
                              full: bool) -> str:
        return await self._status(cpid, self._commands(cpid).send_local_list(version, entries,
                                                                              full))

    async def set_charging_limit(self, cpid: str, limit: ChargingLimit) -> str:
        conn = self._require(cpid)
        if not isinstance(conn, ChargePoint201):
            return await self._status(cpid, commands16.set_charging_limit(limit))
        if limit.session is not None and limit.session.isdigit():
            # A session's limit names our transaction id; 2.0.1 wants the charger's own.
            reference = await self.services.database.read(
                sessions.reference_of, conn.station_id, int(limit.session))
            if reference is None:
                raise NotFound(f"charger {cpid} has no transaction {limit.session}")
            limit = replace(limit, session=reference)
        return await self._status(cpid, commands201.set_charging_limit(limit))

    async def clear_charging_limit(self, cpid: str, profile_id: int | None = None) -> str:
        return await self._status(cpid, self._commands(cpid).clear_charging_limit(profile_id))

    async def install_certificate(self, cpid: str, kind: CertificateKind, pem: str) -> str:
        return await self._status(cpid, self._commands(cpid).install_certificate(kind, pem))

    async def installed_certificates(self, cpid: str, kind: CertificateKind
                                     ) -> InstalledCertificates:
        commands = self._commands(cpid)
        answer = await self._require(cpid).call(*commands.installed_certificates(kind))
        return commands.installed(answer)  # type: ignore[no-any-return]

    async def delete_certificate(self, cpid: str, certificate: CertificateId) -> str:
        return await self._status(cpid, self._commands(cpid).delete_certificate(certificate))

    # --- frame log ----------------------------------------------------------------------------
    def log_frame(self, station_id: int, direction: str, frame: str) -> None:
        entry = (frame_log.frame_time(), direction, redact(frame)[:8000])
        frames = self._frames.get(station_id)
        if frames is None:
            self._frames[station_id] = [entry]
        else:
            frames.append(entry)

    async def flush_frames(self) -> None:
        if not self._frames:
            return
        by_station, self._frames = self._frames, {}
        keep = self.services.settings.frame_log_size
        chunks: list[frame_log.Chunk] = []
        for station_id, frames in by_station.items():
            chunks.append((station_id, datetime.fromisoformat(frames[-1][0]), len(frames),
                           metering.compact_json(frames)))
            self._since_trim[station_id] = self._since_trim.get(station_id, 0) + len(frames)
        trim = {s for s, n in self._since_trim.items() if n >= max(1, keep // 2)}
        for station_id in trim:
            del self._since_trim[station_id]
        try:
            await self.services.database.run(frame_log.write_frames, chunks, keep, trim)
        except Exception:
            log.exception("could not write %d frames to the frame log",
                          sum(c[2] for c in chunks))

    # --- silent sockets -----------------------------------------------------------------------
    def close_silent(self, now: float) -> int:
        """Close the sockets silent past their limit (`conn.heard_at`, monotonic): one sweep
        for every connection instead of a timer per socket. How many it closes."""
        settings, closed = self.services.settings, 0
        for conn in list(self._connections.values()):
            limit = silence_limit(conn, settings)
            close = getattr(conn, "close_transport", None)
            if now - conn.heard_at <= limit or conn.closed or close is None:
                continue
            log.warning("%s: silent for %d s; closing", conn.id, limit)
            conn.heard_at = now  # closing may take a while: not again at the next sweep
            task = asyncio.get_running_loop().create_task(close(silent=True))
            self._watches.add(task)
            task.add_done_callback(self._watches.discard)
            closed += 1
        return closed

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(SILENCE_SWEEP_S)
            self.close_silent(time.monotonic())

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            await self.flush_frames()

    # --- life cycle ---------------------------------------------------------------------------
    async def connection_opened(self, conn: Connection) -> None:
        old = self.register(conn)
        if old is not None:
            log.warning("%s: a new connection replaces the old one", conn.id)
            await self.services.database.run(
                stations.record_security_event, conn.station_id, conn.id,
                {"type": "ConnectionReplaced", "techInfo": "second authenticated connection"},
                utcnow(), "server")
            old.connection_lost()
            close = getattr(old, "close_transport", None)
            if close is not None:
                await close()
        if self.leases is not None:
            # Through the report writer: a boot storm's claims share statements.
            reports = self.services.reports
            await self.leases.opened(
                conn.id, conn.station_id, conn.version,
                None if reports is None else functools.partial(_report, reports, conn.id))
        else:
            await self.services.database.run(stations.set_online, conn.station_id, True,
                                             utcnow(), conn.version)
        self.services.bus.publish(events.StationOnline(conn.id, True))

    async def connection_closed(self, conn: Connection) -> None:
        conn.connection_lost()
        if self.unregister(conn):
            # Published first: the socket's task may be cancelled at the next await (its peer
            # is gone), and live pages must still hear that the charger went offline. A charger
            # another process has taken over is not offline.
            if self.leases is None or self.leases.holds(conn.id):
                self.services.bus.publish(events.StationOnline(conn.id, False))
            if self.leases is not None:
                await self.leases.closed(conn.id, conn.station_id)
            else:
                await self.services.database.run(stations.set_online, conn.station_id, False,
                                                 utcnow())

    @property
    def count(self) -> int:
        """How many chargers have a live connection to this process."""
        return len(self._connections)

    async def let_go(self, cpid: str) -> None:
        """Another process holds this charger now: close our socket, if it is still open."""
        conn = self.get(cpid)
        close = getattr(conn, "close_transport", None)
        if close is not None:
            log.info("%s: another process holds it now; closing the old socket", cpid)
            await close()

    async def close_all(self) -> None:
        for conn in list(self._connections.values()):
            close = getattr(conn, "close_transport", None)
            if close is not None:
                await close(going_away=True)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Hub]:
        if self.leases is not None:
            await self.leases.starting()  # other processes' chargers stay online
        else:
            await self.services.database.run(stations.mark_all_offline)
        self._flusher = asyncio.create_task(self._flush_loop(), name="frame-log")
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="silent-sockets")
        assert self.services.liveness is not None and self.services.reports is not None
        try:
            async with self.services.liveness.running():
                try:
                    yield self
                finally:
                    await self.close_all()
        finally:
            for task in list(self._watches):
                task.cancel()
            self._flusher.cancel()
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            await self.services.reports.drain()
            await self.flush_frames()
