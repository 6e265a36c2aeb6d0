"""The hub of connected chargers: one live connection per charge point id, the `ChargerControl`
port over them, and the frame log written in batches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from appliance import events
from appliance.billing import commands as billing_commands
from appliance.charging import certificates, frame_log, metering, sessions, stations
from appliance.charging.control import (
    CertificateId,
    CertificateKind,
    ChargingLimit,
    Configuration,
    InstalledCertificates,
    ListEntry,
    Trigger,
)
from appliance.db.models import utcnow
from appliance.errors import ChargerOffline, NotFound, Text
from appliance.ocpp import commands16, commands201
from appliance.ocpp.batch import Liveness, ReportWriter
from appliance.ocpp.protocol import Connection, redact
from appliance.ocpp.v16 import Services
from appliance.ocpp.v201 import ChargePoint201

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.5
PROFILE_WAIT_S = 120.0  # how long a charger has to come back at a new security profile


class Hub:
    """Implements `ChargerControl` over the live connections."""

    def __init__(self, services: Services) -> None:
        if services.reports is None:
            services = replace(services, reports=ReportWriter(services.database),
                               liveness=Liveness(services.database))
        self.services = services
        self._connections: dict[str, Connection] = {}
        self._frames: dict[int, list[tuple[str, str, str]]] = {}  # station -> (at, dir, frame)
        self._since_trim: dict[int, int] = {}  # frames written per station since its last trim
        self._flusher: asyncio.Task[None] | None = None
        self._watches: set[asyncio.Task[None]] = set()  # security profile upgrades
        self.profile_wait_s = PROFILE_WAIT_S

    # --- registry -----------------------------------------------------------------------------
    def register(self, conn: Connection) -> Connection | None:
        """Make `conn` the station's connection; returns the one it replaces."""
        key = conn.id.upper()
        old = self._connections.get(key)
        self._connections[key] = conn
        return old

    def unregister(self, conn: Connection) -> bool:
        """Forget `conn` if it is still the current one (a replaced socket touches nothing)."""
        key = conn.id.upper()
        if self._connections.get(key) is conn:
            del self._connections[key]
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
        return await conn.call(action, payload)

    def _commands(self, cpid: str) -> Any:
        """The verb mapping of the version the charger speaks now."""
        return commands201 if isinstance(self._require(cpid), ChargePoint201) else commands16

    async def _status(self, cpid: str, call: commands16.Call) -> str:
        return str(self._commands(cpid).status(await self._require(cpid).call(*call)))

    async def remote_start(self, cpid: str, connector_id: int, id_tag: str) -> str:
        return await self._status(cpid, self._commands(cpid).remote_start(connector_id, id_tag))

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

    async def unlock(self, cpid: str, connector_id: int) -> str:
        return await self._status(cpid, self._commands(cpid).unlock(connector_id))

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
            return await conn.configuration(keys)
        return commands16.configuration(await conn.call(*commands16.get_configuration(keys)))

    async def change_configuration(self, cpid: str, key: str, value: str) -> str:
        return await self._status(cpid, self._commands(cpid).change_configuration(key, value))

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

    async def set_security_profile(self, cpid: str, profile: int) -> str:
        station_id = self._require(cpid).station_id
        await self.services.database.run(certificates.start_upgrade, station_id, profile)
        try:
            status = await self._status(cpid, commands16.set_security_profile(profile))
        except Exception:
            await self.services.database.run(certificates.upgrade_failed, station_id,
                                             Text(certificates.NO_ANSWER))
            raise
        if status != "Accepted":
            await self.services.database.run(
                certificates.upgrade_failed, station_id,
                Text(certificates.REFUSED, status=status, profile=profile))
            return status
        task = asyncio.create_task(self._watch_upgrade(cpid, station_id, profile))
        self._watches.add(task)
        task.add_done_callback(self._watches.discard)
        return status

    async def _watch_upgrade(self, cpid: str, station_id: int, profile: int) -> None:
        """Fall back, and say so, when the charger has not come back at `profile` in time."""
        await asyncio.sleep(self.profile_wait_s)
        note = Text(certificates.TIMED_OUT, profile=profile, seconds=f"{self.profile_wait_s:g}")
        if await self.services.database.run(certificates.give_up_upgrade, station_id, profile,
                                            note):
            log.warning("%s: %s", cpid, note)

    # --- frame log ----------------------------------------------------------------------------
    def log_frame(self, station_id: int, direction: str, frame: str) -> None:
        entry = (utcnow().isoformat(), direction, redact(frame)[:8000])
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
        await self.services.database.run(stations.set_online, conn.station_id, True, utcnow())
        self.services.bus.publish(events.StationOnline(conn.id, True))

    async def connection_closed(self, conn: Connection) -> None:
        conn.connection_lost()
        if self.unregister(conn):
            # Published first: the socket's task may be cancelled at the next await (its peer
            # is gone), and live pages must still hear that the charger went offline.
            self.services.bus.publish(events.StationOnline(conn.id, False))
            await self.services.database.run(stations.set_online, conn.station_id, False,
                                             utcnow())

    async def close_all(self) -> None:
        for conn in list(self._connections.values()):
            close = getattr(conn, "close_transport", None)
            if close is not None:
                await close(going_away=True)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Hub]:
        await self.services.database.run(stations.mark_all_offline)
        self._flusher = asyncio.create_task(self._flush_loop(), name="frame-log")
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
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            await self.services.reports.drain()
            await self.flush_frames()
