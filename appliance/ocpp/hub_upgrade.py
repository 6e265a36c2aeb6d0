"""Raising a connected charger's security profile through the hub: 1.6's change of its
SecurityProfile, 2.0.1's network profile and Reset (use case A05), and the watch that falls back
when the charger does not come back at the new profile in time. A part of `hub.Hub`."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from appliance.charging import certificates
from appliance.errors import Text
from appliance.ocpp import commands16, commands201
from appliance.ocpp.protocol import Connection
from appliance.ocpp.v201 import ChargePoint201

if TYPE_CHECKING:
    from appliance.ocpp.v16 import Services

log = logging.getLogger(__name__)

PROFILE_WAIT_S = 120.0  # how long a charger has to come back at a new security profile


class ProfileUpgrade:
    """`hub.Hub`'s `set_security_profile` and what it needs."""

    if TYPE_CHECKING:  # given by `hub.Hub`
        services: Services
        profile_wait_s: float
        _watches: set[asyncio.Task[None]]

        def _require(self, cpid: str) -> Connection: ...

        async def _status(self, cpid: str, call: commands16.Call) -> str: ...

    async def set_security_profile(self, cpid: str, profile: int) -> str:
        conn = self._require(cpid)
        station_id = conn.station_id
        await self.services.database.run(certificates.start_upgrade, station_id, profile)
        try:
            if isinstance(conn, ChargePoint201):
                status = await self._network_profile(conn, profile)
            else:
                status = await self._status(cpid, commands16.set_security_profile(profile))
        except Exception:
            await self.services.database.run(certificates.upgrade_failed, station_id,
                                             Text(certificates.NO_ANSWER))
            raise
        if status not in ("Accepted", "Scheduled"):  # Scheduled: a 2.0.1 reset when idle
            await self.services.database.run(
                certificates.upgrade_failed, station_id,
                Text(certificates.REFUSED, status=status, profile=profile))
            return status
        task = asyncio.create_task(self._watch_upgrade(cpid, station_id, profile))
        self._watches.add(task)
        task.add_done_callback(self._watches.discard)
        return status

    async def _network_profile(self, conn: ChargePoint201, profile: int) -> str:
        """2.0.1's profile change (use case A05): a connection profile with the wss:// URL in
        a free configuration slot, that slot first in NetworkConfigurationPriority (the old
        ones after it: where the charger falls back), then a Reset. Returns the Reset's
        status, or the step and status that stopped it ("SetNetworkProfile Rejected")."""
        found = await conn.configuration([commands201.PRIORITY_KEY])
        in_use = commands201.slots(found.value(commands201.PRIORITY_KEY))
        slot = commands201.free_slot(in_use)
        steps = ((commands201.set_network_profile(slot, self.tls_url(conn), profile),
                  ("Accepted",)),
                 (commands201.network_priority(slot, in_use), ("Accepted", "RebootRequired")))
        for step, fine in steps:
            status = commands201.status(await conn.call(*step))
            if status not in fine:
                return f"{step[0]} {status}"
        log.info("%s: network profile %d (security profile %d) first; resetting", conn.id,
                 slot, profile)
        return commands201.status(await conn.call(*commands201.reset(hard=False)))

    def tls_url(self, conn: Connection) -> str:
        """The box's OCPP path on the TLS port, at the host name the charger reached us by."""
        pki, settings = self.services.pki, self.services.settings
        port = (pki.port if pki is not None else 0) or settings.tls_port
        host = conn.reached_as or urlsplit(settings.public_url).hostname or "appliance.local"
        return f"wss://{f'[{host}]' if ':' in host else host}:{port}/ocpp"

    async def _watch_upgrade(self, cpid: str, station_id: int, profile: int) -> None:
        """Fall back, and say so, when the charger has not come back at `profile` in time."""
        await asyncio.sleep(self.profile_wait_s)
        note = Text(certificates.TIMED_OUT, profile=profile, seconds=f"{self.profile_wait_s:g}")
        if await self.services.database.run(certificates.give_up_upgrade, station_id, profile,
                                            note):
            log.warning("%s: %s", cpid, note)
