"""The hub's verbs whose answers are kept (the charger page and the API list them): each call is
stored with its answer, or its failure, as the station's notice `answer:<Action>`. A part of
`hub.Hub`, which holds the connections."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from appliance.charging import sessions, stations
from appliance.charging.control import Monitor, TransactionStatus
from appliance.db.models import utcnow
from appliance.errors import ApplianceError, InvalidInput, NotFound
from appliance.ocpp import commands16, commands201
from appliance.ocpp.v201 import ChargePoint201

if TYPE_CHECKING:
    from appliance.ocpp.protocol import Connection
    from appliance.ocpp.v16 import Services


class KeptVerbs:
    """`hub.Hub`'s reservations, transaction status, monitoring, customer information and
    firmware verbs."""

    if TYPE_CHECKING:  # given by `hub.Hub`
        services: Services

        def _require(self, cpid: str) -> Connection: ...

        def _commands(self, cpid: str) -> Any: ...

        async def _token_type(self, id_tag: str) -> str: ...

    async def _kept(self, cpid: str, call: commands16.Call) -> dict[str, Any]:
        """Send a call and keep it with its answer (or its failure) as the station's notice
        `answer:<Action>`."""
        conn = self._require(cpid)
        action, payload = call
        try:
            answer = await conn.call(action, payload)
        except ApplianceError as err:
            await self.services.database.run(
                stations.record_notice, conn.station_id, f"answer:{action}",
                {"request": payload, "error": err.code, "message": err.message}, utcnow())
            raise
        await self.services.database.run(stations.record_notice, conn.station_id,
                                         f"answer:{action}",
                                         {"request": payload, "answer": answer}, utcnow())
        return answer

    def _only201(self, cpid: str, action: str) -> ChargePoint201:
        conn = self._require(cpid)
        if not isinstance(conn, ChargePoint201):
            raise InvalidInput(f"OCPP 1.6 has no {action}; this charger speaks 1.6",
                               details={"action": action})
        return conn

    async def transaction_status(self, cpid: str, transaction_id: int | None = None
                                 ) -> TransactionStatus:
        conn = self._only201(cpid, "GetTransactionStatus")
        reference = None
        if transaction_id is not None:
            reference = await self.services.database.read(sessions.reference_of,
                                                          conn.station_id, transaction_id)
            if reference is None:
                raise NotFound(f"charger {cpid} has no transaction {transaction_id}")
        return commands201.read_transaction_status(
            await self._kept(cpid, commands201.transaction_status(reference)))

    async def reserve(self, cpid: str, connector_id: int, id_tag: str, expiry: datetime,
                      reservation_id: int) -> str:
        if isinstance(self._require(cpid), ChargePoint201):
            call = commands201.reserve(connector_id, id_tag, expiry, reservation_id,
                                       await self._token_type(id_tag))
        else:
            call = commands16.reserve(connector_id, id_tag, expiry, reservation_id)
        return str(commands201.status(await self._kept(cpid, call)))

    async def cancel_reservation(self, cpid: str, reservation_id: int) -> str:
        return str(commands201.status(await self._kept(
            cpid, self._commands(cpid).cancel_reservation(reservation_id))))

    async def set_monitoring(self, cpid: str, monitors: list[Monitor]) -> list[str]:
        self._only201(cpid, "SetVariableMonitoring")
        return commands201.monitoring_statuses(await self._kept(
            cpid, commands201.set_monitoring(monitors)), "setMonitoringResult")

    async def clear_monitoring(self, cpid: str, monitor_ids: list[int]) -> list[str]:
        self._only201(cpid, "ClearVariableMonitoring")
        return commands201.monitoring_statuses(await self._kept(
            cpid, commands201.clear_monitoring(monitor_ids)), "clearMonitoringResult")

    async def set_monitoring_base(self, cpid: str, base: str) -> str:
        self._only201(cpid, "SetMonitoringBase")
        return str(commands201.status(await self._kept(
            cpid, commands201.set_monitoring_base(base))))

    async def customer_information(self, cpid: str, id_tag: str, report: bool, clear: bool
                                   ) -> str:
        self._only201(cpid, "CustomerInformation")
        return str(commands201.status(await self._kept(cpid, commands201.customer_information(
            commands201.remote_start_id(), id_tag, report, clear,
            await self._token_type(id_tag)))))

    async def update_firmware(self, cpid: str, location: str, retrieve_at: datetime) -> str:
        if isinstance(self._require(cpid), ChargePoint201):
            call = commands201.update_firmware(commands201.remote_start_id(), location,
                                               retrieve_at)
        else:
            call = commands16.update_firmware(location, retrieve_at)
        # 1.6's UpdateFirmware answers nothing but that it got the request.
        return str(commands201.status(await self._kept(cpid, call)) or "Accepted")

    async def publish_firmware(self, cpid: str, location: str, checksum: str) -> str:
        self._only201(cpid, "PublishFirmware")
        return str(commands201.status(await self._kept(cpid, commands201.publish_firmware(
            commands201.remote_start_id(), location, checksum))))
