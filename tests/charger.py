"""A simulated OCPP 1.6 charger for tests: the `ocpp` library's own ChargePoint, talking over a
real aiohttp client WebSocket to the real server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from ocpp.exceptions import NotSupportedError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action


class ClientTransport:
    """recv()/send() over an aiohttp client WebSocket, which is all the library needs."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def recv(self) -> str:
        msg = await self.ws.receive()
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"socket closed: {msg.type} {msg.data}")
        return str(msg.data)

    async def send(self, message: str) -> None:
        await self.ws.send_str(message)


SIM_LOG = logging.getLogger("tests.sim_charger")
SIM_LOG.propagate = False


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class SimCharger(ChargePoint):
    """Answers the server's calls like a well-behaved charger; tests tune `answers`."""

    def __init__(self, cpid: str, transport: ClientTransport,
                 local_list: LocalListMemory | None = None) -> None:
        # Its own logger: what the simulated charger logs is not the server's business.
        super().__init__(cpid, transport, response_timeout=10, logger=SIM_LOG)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.configuration: dict[str, str] = {"HeartbeatInterval": "300",
                                              "NumberOfConnectors": "2"}
        self.delay = 0.0
        self.fail_with: Exception | None = None
        # The LocalAuthListManagement profile, when the test gives the charger one: its list
        # outlives a connection, as a real charger's does.
        self.local_list = local_list
        if local_list is not None:
            self.configuration.update(local_list.configuration())
        self.profiles: dict[tuple[int, str], dict[str, Any]] = {}  # (connector, purpose) ->
        self.refuse_profiles = False

    # --- local authorization list (LocalAuthListManagement) ----------------------------------
    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self, **kw: Any) -> call_result.GetLocalListVersion:
        if self.local_list is None:
            raise NotSupportedError(description="no local list")
        await self._behave("GetLocalListVersion", kw)
        return call_result.GetLocalListVersion(list_version=self.local_list.version)

    @on(Action.send_local_list)
    async def on_send_local_list(self, **kw: Any) -> call_result.SendLocalList:
        if self.local_list is None:
            raise NotSupportedError(description="no local list")
        await self._behave("SendLocalList", kw)
        return call_result.SendLocalList(status=self.local_list.apply(
            kw["list_version"], kw["update_type"], kw.get("local_authorization_list") or []))

    # --- smart charging ------------------------------------------------------------------------
    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, **kw: Any) -> call_result.SetChargingProfile:
        await self._behave("SetChargingProfile", kw)
        if self.refuse_profiles:
            return call_result.SetChargingProfile(status="Rejected")
        profile = kw["cs_charging_profiles"]
        self.profiles[(kw["connector_id"], profile["charging_profile_purpose"])] = profile
        return call_result.SetChargingProfile(status="Accepted")

    def limit(self, connector_id: int, purpose: str = "TxProfile") -> float | None:
        profile = self.profiles.get((connector_id, purpose))
        if profile is None:
            return None
        return float(profile["charging_schedule"]["charging_schedule_period"][0]["limit"])

    async def _behave(self, action: str, kwargs: dict[str, Any]) -> None:
        self.received.append((action, kwargs))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_with is not None:
            raise self.fail_with

    @on(Action.remote_start_transaction)
    async def on_remote_start(self, **kw: Any) -> call_result.RemoteStartTransaction:
        await self._behave("RemoteStartTransaction", kw)
        return call_result.RemoteStartTransaction(status="Accepted")

    @on(Action.remote_stop_transaction)
    async def on_remote_stop(self, **kw: Any) -> call_result.RemoteStopTransaction:
        await self._behave("RemoteStopTransaction", kw)
        return call_result.RemoteStopTransaction(status="Accepted")

    @on(Action.reset)
    async def on_reset(self, **kw: Any) -> call_result.Reset:
        await self._behave("Reset", kw)
        return call_result.Reset(status="Accepted")

    @on(Action.get_configuration)
    async def on_get_configuration(self, **kw: Any) -> call_result.GetConfiguration:
        await self._behave("GetConfiguration", kw)
        keys = kw.get("key") or list(self.configuration)
        known = [{"key": k, "readonly": False, "value": self.configuration[k]}
                 for k in keys if k in self.configuration]
        unknown = [k for k in keys if k not in self.configuration]
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on(Action.change_configuration)
    async def on_change_configuration(self, **kw: Any) -> call_result.ChangeConfiguration:
        await self._behave("ChangeConfiguration", kw)
        self.configuration[kw["key"]] = kw["value"]
        return call_result.ChangeConfiguration(status="Accepted")

    @on(Action.clear_cache)
    async def on_clear_cache(self, **kw: Any) -> call_result.ClearCache:
        await self._behave("ClearCache", kw)
        return call_result.ClearCache(status="Accepted")

    @on(Action.unlock_connector)
    async def on_unlock(self, **kw: Any) -> call_result.UnlockConnector:
        await self._behave("UnlockConnector", kw)
        return call_result.UnlockConnector(status="Unlocked")

    @on(Action.change_availability)
    async def on_change_availability(self, **kw: Any) -> call_result.ChangeAvailability:
        await self._behave("ChangeAvailability", kw)
        return call_result.ChangeAvailability(status="Accepted")

    @on(Action.trigger_message)
    async def on_trigger(self, **kw: Any) -> call_result.TriggerMessage:
        await self._behave("TriggerMessage", kw)
        return call_result.TriggerMessage(status="Accepted")

    @on(Action.data_transfer)
    async def on_data_transfer(self, **kw: Any) -> call_result.DataTransfer:
        await self._behave("DataTransfer", kw)
        return call_result.DataTransfer(status="Accepted")

    # --- what a charger sends ----------------------------------------------------------------
    async def boot(self) -> call_result.BootNotification:
        return await self.call(call.BootNotification(charge_point_vendor="TestVendor",
                                                     charge_point_model="SimCP-2"))

    async def status(self, connector_id: int, status: str, error_code: str = "NoError"
                     ) -> None:
        await self.call(call.StatusNotification(connector_id=connector_id, error_code=error_code,
                                                status=status, timestamp=now()))

    async def authorize(self, id_tag: str) -> dict[str, Any]:
        result = await self.call(call.Authorize(id_tag=id_tag))
        return dict(result.id_tag_info)

    async def start_tx(self, connector_id: int, id_tag: str, meter_start: int,
                    timestamp: str | None = None) -> call_result.StartTransaction:
        return await self.call(call.StartTransaction(
            connector_id=connector_id, id_tag=id_tag, meter_start=meter_start,
            timestamp=timestamp or now()))

    async def meter(self, connector_id: int, transaction_id: int, wh: float,
                    power_w: float | None = None, unit: str = "Wh") -> None:
        sampled = [{"value": str(wh), "measurand": "Energy.Active.Import.Register",
                    "unit": unit, "context": "Sample.Periodic"}]
        if power_w is not None:
            sampled.append({"value": str(power_w), "measurand": "Power.Active.Import",
                            "unit": "W"})
        await self.call(call.MeterValues(
            connector_id=connector_id, transaction_id=transaction_id,
            meter_value=[{"timestamp": now(), "sampled_value": sampled}]))

    async def stop(self, transaction_id: int, meter_stop: int, reason: str = "Local",
                   id_tag: str | None = None, timestamp: str | None = None
                   ) -> call_result.StopTransaction:
        return await self.call(call.StopTransaction(
            transaction_id=transaction_id, meter_stop=meter_stop, timestamp=timestamp or now(),
            reason=reason, id_tag=id_tag))


class LocalListMemory:
    """A charger's local authorization list as OCPP 1.6 describes it: a version, entries, a
    most per SendLocalList and a most in all; unknown cards are refused offline
    (AllowOfflineTxForUnknownId false)."""

    def __init__(self, max_length: int = 1000, send_max: int = 100) -> None:
        self.max_length, self.send_max = max_length, send_max
        self.version = 0
        self.entries: dict[str, dict[str, Any]] = {}  # id tag (upper) -> idTagInfo
        self.parts: list[tuple[int, str, int]] = []  # (version, update type, entries)

    def configuration(self) -> dict[str, str]:
        return {"LocalAuthListEnabled": "false", "LocalAuthorizeOffline": "false",
                "LocalPreAuthorize": "false", "AllowOfflineTxForUnknownId": "true",
                "LocalAuthListMaxLength": str(self.max_length),
                "SendLocalListMaxLength": str(self.send_max)}

    def apply(self, version: int, update_type: str, items: list[dict[str, Any]]) -> str:
        if len(items) > self.send_max:
            return "Failed"
        if update_type == "Differential" and version <= self.version:
            return "VersionMismatch"
        entries = {} if update_type == "Full" else dict(self.entries)
        for item in items:
            tag = str(item["id_tag"]).upper()
            if item.get("id_tag_info") is None:
                entries.pop(tag, None)
            else:
                entries[tag] = dict(item["id_tag_info"])
        if len(entries) > self.max_length:
            return "Failed"
        self.entries, self.version = entries, version
        self.parts.append((version, update_type, len(items)))
        return "Accepted"

    def authorize_offline(self, id_tag: str) -> str:
        """What the charger decides on its own while the box is away."""
        info = self.entries.get(id_tag.upper())
        return "Invalid" if info is None else str(info.get("status"))


def ws_url(server: TestServer, cpid: str) -> str:
    return str(server.make_url(f"/ocpp/{cpid}")).replace("http://", "ws://")


@contextlib.asynccontextmanager
async def connect_charger(server: TestServer, cpid: str, password: str | None = None,
                          user: str | None = None, protocols: tuple[str, ...] = ("ocpp1.6",),
                          local_list: LocalListMemory | None = None,
                          cls: type[SimCharger] | None = None) -> AsyncIterator[SimCharger]:
    headers = {}
    if password is not None:
        token = base64.b64encode(f"{user or cpid}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(ws_url(server, cpid), protocols=protocols, headers=headers,
                                      autoping=True)
        cp = (cls or SimCharger)(cpid, ClientTransport(ws), local_list)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await task
            await ws.close()
