"""A simulated OCPP 2.0.1 charger for tests: the `ocpp` library's own v201 ChargePoint, talking
over a real aiohttp client WebSocket to the real server (as tests/charger.py does for 1.6)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result

from tests.charger import SIM_LOG, ClientTransport, now, ws_url


class SimCharger201(ChargePoint):
    """Answers the server's calls like a well-behaved 2.0.1 charger; tests read `received`."""

    def __init__(self, cpid: str, transport: ClientTransport) -> None:
        super().__init__(cpid, transport, response_timeout=10, logger=SIM_LOG)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.variables: dict[tuple[str, str], str] = {
            ("OCPPCommCtrlr", "HeartbeatInterval"): "300",
            ("TxCtrlr", "EVConnectionTimeOut"): "60",
            ("SecurityCtrlr", "BasicAuthPassword"): "secret-pass-1"}
        self.seq = 0
        self.profiles: dict[int, dict[str, Any]] = {}
        self.list_version = 0
        self.ongoing: set[str] = set()  # transaction ids it still runs (GetTransactionStatus)
        self._tasks: set[asyncio.Task[Any]] = set()

    def _got(self, action: str, kwargs: dict[str, Any]) -> None:
        self.received.append((action, kwargs))

    @on("RequestStartTransaction")
    async def on_request_start(self, **kw: Any) -> call_result.RequestStartTransaction:
        self._got("RequestStartTransaction", kw)
        return call_result.RequestStartTransaction(status="Accepted")

    @on("RequestStopTransaction")
    async def on_request_stop(self, **kw: Any) -> call_result.RequestStopTransaction:
        self._got("RequestStopTransaction", kw)
        return call_result.RequestStopTransaction(status="Accepted")

    @on("Reset")
    async def on_reset(self, **kw: Any) -> call_result.Reset:
        self._got("Reset", kw)
        return call_result.Reset(status="Accepted")

    @on("UnlockConnector")
    async def on_unlock(self, **kw: Any) -> call_result.UnlockConnector:
        self._got("UnlockConnector", kw)
        return call_result.UnlockConnector(status="Unlocked")

    @on("ChangeAvailability")
    async def on_change_availability(self, **kw: Any) -> call_result.ChangeAvailability:
        self._got("ChangeAvailability", kw)
        return call_result.ChangeAvailability(status="Accepted")

    @on("TriggerMessage")
    async def on_trigger(self, **kw: Any) -> call_result.TriggerMessage:
        self._got("TriggerMessage", kw)
        return call_result.TriggerMessage(status="Accepted")

    @on("ClearCache")
    async def on_clear_cache(self, **kw: Any) -> call_result.ClearCache:
        self._got("ClearCache", kw)
        return call_result.ClearCache(status="Accepted")

    @on("GetVariables")
    async def on_get_variables(self, **kw: Any) -> call_result.GetVariables:
        self._got("GetVariables", kw)
        results = []
        for item in kw["get_variable_data"]:
            where = (item["component"]["name"], item["variable"]["name"])
            found = where in self.variables
            results.append({"attribute_status": "Accepted" if found else "UnknownVariable",
                            "component": item["component"], "variable": item["variable"],
                            **({"attribute_value": self.variables[where]} if found else {})})
        return call_result.GetVariables(get_variable_result=results)

    @on("SetVariables")
    async def on_set_variables(self, **kw: Any) -> call_result.SetVariables:
        self._got("SetVariables", kw)
        results = []
        for item in kw["set_variable_data"]:
            self.variables[(item["component"]["name"], item["variable"]["name"])] = \
                item["attribute_value"]
            results.append({"attribute_status": "Accepted", "component": item["component"],
                            "variable": item["variable"]})
        return call_result.SetVariables(set_variable_result=results)

    @on("GetBaseReport")
    async def on_get_base_report(self, **kw: Any) -> call_result.GetBaseReport:
        self._got("GetBaseReport", kw)
        return call_result.GetBaseReport(status="Accepted")

    @after("GetBaseReport")
    async def send_report(self, **kw: Any) -> None:
        # Not awaited here: the library reads the answer to our call in this same loop.
        task = asyncio.create_task(self._report(kw["request_id"]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @on("GetReport")
    async def on_get_report(self, **kw: Any) -> call_result.GetReport:
        """Its variables of the components (and variables) named; Problem: none has one."""
        self._got("GetReport", kw)
        wanted = kw.get("component_variable") or []

        def named(c: str, v: str) -> bool:
            return not wanted or any(
                w["component"]["name"] == c and ("variable" not in w
                                                 or w["variable"]["name"] == v.split(".")[0])
                for w in wanted)

        found = [key for key in self.variables if named(*key)]
        if "Problem" in (kw.get("component_criteria") or []) or not found:
            return call_result.GetReport(status="EmptyResultSet")
        task = asyncio.create_task(self._report(kw["request_id"], found, evse=False))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return call_result.GetReport(status="Accepted")

    async def _report(self, request_id: int, only: list[tuple[str, str]] | None = None,
                      evse: bool = True) -> None:
        def variable(name: str) -> dict[str, str]:  # "Name.Instance" names an instance
            name, _, instance = name.partition(".")
            return {"name": name, **({"instance": instance} if instance else {})}

        entries = [{"component": {"name": c}, "variable": variable(v),
                    "variable_attribute": [{"type": "Actual", "value": value,
                                            "mutability": "ReadWrite"}]}
                   for (c, v), value in sorted(self.variables.items())
                   if only is None or (c, v) in only]
        if evse:
            entries.append({"component": {"name": "EVSE", "evse": {"id": 1}},
                            "variable": {"name": "Power"},
                            "variable_attribute": [{"type": "MaxSet", "value": "22000"}],
                            "variable_characteristics": {"data_type": "decimal", "unit": "W",
                                                         "supports_monitoring": False}})
        half = len(entries) // 2
        with contextlib.suppress(ConnectionError):  # the test may hang up meanwhile
            parts = ((0, entries[:half], True), (1, entries[half:], False)) if half \
                else ((0, entries, False),)
            for seq, part, tbc in parts:
                await self.call(call.NotifyReport(request_id=request_id, generated_at=now(),
                                                  seq_no=seq, report_data=part, tbc=tbc))

    # --- firmware, logs, charging profiles, display messages: answered, then reported --------
    @on("UpdateFirmware")
    async def on_update_firmware(self, **kw: Any) -> call_result.UpdateFirmware:
        self._got("UpdateFirmware", kw)
        return call_result.UpdateFirmware(status="Accepted")

    @after("UpdateFirmware")
    async def firmware_progress(self, **kw: Any) -> None:
        self._later(*(call.FirmwareStatusNotification(status=s, request_id=kw["request_id"])
                      for s in ("Downloading", "Downloaded", "Installing", "Installed")))

    @on("PublishFirmware")
    async def on_publish_firmware(self, **kw: Any) -> call_result.PublishFirmware:
        self._got("PublishFirmware", kw)
        return call_result.PublishFirmware(status="Accepted")

    # --- transactions' status, reservations, monitoring, customer information ---------------
    @on("GetTransactionStatus")
    async def on_transaction_status(self, **kw: Any) -> call_result.GetTransactionStatus:
        self._got("GetTransactionStatus", kw)
        ongoing = kw.get("transaction_id") in self.ongoing if "transaction_id" in kw else None
        return call_result.GetTransactionStatus(messages_in_queue=False,
                                                ongoing_indicator=ongoing)

    @on("ReserveNow")
    async def on_reserve(self, **kw: Any) -> call_result.ReserveNow:
        self._got("ReserveNow", kw)
        return call_result.ReserveNow(status="Accepted")

    @on("CancelReservation")
    async def on_cancel_reservation(self, **kw: Any) -> call_result.CancelReservation:
        self._got("CancelReservation", kw)
        return call_result.CancelReservation(status="Accepted")

    @on("SetVariableMonitoring")
    async def on_set_monitoring(self, **kw: Any) -> call_result.SetVariableMonitoring:
        self._got("SetVariableMonitoring", kw)
        return call_result.SetVariableMonitoring(set_monitoring_result=[
            {"id": 100 + i, "status": "Accepted" if m["component"]["name"] != "Nope"
             else "UnknownComponent", "type": m["type"], "severity": m["severity"],
             "component": m["component"], "variable": m["variable"]}
            for i, m in enumerate(kw["set_monitoring_data"])])

    @on("ClearVariableMonitoring")
    async def on_clear_monitoring(self, **kw: Any) -> call_result.ClearVariableMonitoring:
        self._got("ClearVariableMonitoring", kw)
        return call_result.ClearVariableMonitoring(clear_monitoring_result=[
            {"id": i, "status": "Accepted" if i >= 100 else "NotFound"} for i in kw["id"]])

    @on("SetMonitoringBase")
    async def on_monitoring_base(self, **kw: Any) -> call_result.SetMonitoringBase:
        self._got("SetMonitoringBase", kw)
        return call_result.SetMonitoringBase(status="Accepted")

    @on("CustomerInformation")
    async def on_customer_information(self, **kw: Any) -> call_result.CustomerInformation:
        self._got("CustomerInformation", kw)
        return call_result.CustomerInformation(status="Accepted")

    @after("CustomerInformation")
    async def customer_report(self, **kw: Any) -> None:
        if kw.get("report"):
            self._later(call.NotifyCustomerInformation(
                data=f"card {kw['id_token']['id_token']}: 3 sessions kept", seq_no=0,
                generated_at=now(), request_id=kw["request_id"]))

    @on("GetLog")
    async def on_get_log(self, **kw: Any) -> call_result.GetLog:
        self._got("GetLog", kw)
        return call_result.GetLog(status="Accepted", filename="diagnostics.tar.gz")

    @after("GetLog")
    async def log_progress(self, **kw: Any) -> None:
        self._later(*(call.LogStatusNotification(status=s, request_id=kw["request_id"])
                      for s in ("Uploading", "Uploaded")))

    @on("SetChargingProfile")
    async def on_set_profile(self, **kw: Any) -> call_result.SetChargingProfile:
        self._got("SetChargingProfile", kw)
        self.profiles[kw["evse_id"]] = kw["charging_profile"]
        return call_result.SetChargingProfile(status="Accepted")

    @on("GetChargingProfiles")
    async def on_get_profiles(self, **kw: Any) -> call_result.GetChargingProfiles:
        self._got("GetChargingProfiles", kw)
        return call_result.GetChargingProfiles(status="Accepted" if self.profiles
                                               else "NoProfiles")

    @after("GetChargingProfiles")
    async def report_profiles(self, **kw: Any) -> None:
        self._later(*(call.ReportChargingProfiles(
            request_id=kw["request_id"], charging_limit_source="CSO", evse_id=evse,
            charging_profile=[profile], tbc=False) for evse, profile in self.profiles.items()))

    @on("GetLocalListVersion")
    async def on_list_version(self, **kw: Any) -> call_result.GetLocalListVersion:
        self._got("GetLocalListVersion", kw)
        return call_result.GetLocalListVersion(version_number=self.list_version)

    @on("SendLocalList")
    async def on_send_list(self, **kw: Any) -> call_result.SendLocalList:
        self._got("SendLocalList", kw)
        self.list_version = kw["version_number"]
        return call_result.SendLocalList(status="Accepted")

    @on("ClearChargingProfile")
    async def on_clear_profile(self, **kw: Any) -> call_result.ClearChargingProfile:
        self._got("ClearChargingProfile", kw)
        return call_result.ClearChargingProfile(status="Accepted")

    @on("InstallCertificate")
    async def on_install_certificate(self, **kw: Any) -> call_result.InstallCertificate:
        self._got("InstallCertificate", kw)
        return call_result.InstallCertificate(status="Accepted")

    @on("GetInstalledCertificateIds")
    async def on_installed(self, **kw: Any) -> call_result.GetInstalledCertificateIds:
        self._got("GetInstalledCertificateIds", kw)
        return call_result.GetInstalledCertificateIds(
            status="Accepted", certificate_hash_data_chain=[{
                "certificate_type": "CSMSRootCertificate", "certificate_hash_data": {
                    "hash_algorithm": "SHA256", "issuer_name_hash": "aa",
                    "issuer_key_hash": "bb", "serial_number": "01"}}])

    @on("CostUpdated")
    async def on_cost_updated(self, **kw: Any) -> call_result.CostUpdated:
        self._got("CostUpdated", kw)
        return call_result.CostUpdated()

    @on("SetDisplayMessage")
    async def on_set_display(self, **kw: Any) -> call_result.SetDisplayMessage:
        self._got("SetDisplayMessage", kw)
        return call_result.SetDisplayMessage(status="Accepted")

    def _later(self, *calls: Any) -> None:
        """Send these after the answer that is going out now (not awaited here: the library
        reads the answers to our calls in this same loop)."""
        async def send() -> None:
            with contextlib.suppress(ConnectionError):
                for message in calls:
                    await self.call(message)

        task = asyncio.create_task(send())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- what a charger sends ----------------------------------------------------------------
    async def boot(self) -> call_result.BootNotification:
        return await self.call(call.BootNotification(
            charging_station={"vendor_name": "TestVendor", "model": "SimCP-201",
                              "serial_number": "SN-201", "firmware_version": "2.0.1-fw"},
            reason="PowerUp"))

    async def heartbeat(self) -> call_result.Heartbeat:
        return await self.call(call.Heartbeat())

    async def status(self, evse_id: int, status: str, connector_id: int = 1) -> None:
        await self.call(call.StatusNotification(timestamp=now(), connector_status=status,
                                                evse_id=evse_id, connector_id=connector_id))

    async def authorize(self, token: str, kind: str = "ISO14443") -> dict[str, Any]:
        result = await self.call(call.Authorize(id_token={"id_token": token, "type": kind}))
        return dict(result.id_token_info)

    async def event(self, event_type: str, reference: str, trigger: str, *,
                    token: str | None = None, evse: int | None = 1, wh: float | None = None,
                    power_w: float | None = None, context: str = "Sample.Periodic",
                    offline: bool = False, reason: str | None = None,
                    timestamp: str | None = None, seq_no: int | None = None,
                    remote_start_id: int | None = None, connector: int = 1,
                    token_type: str = "ISO14443", state: str | None = None
                    ) -> call_result.TransactionEvent:
        """One TransactionEvent (seqNo counts up unless given: a replay passes the old one);
        `state` is the transaction's chargingState."""
        info: dict[str, Any] = {"transaction_id": reference}
        if state is not None:
            info["charging_state"] = state
        if reason is not None:
            info["stopped_reason"] = reason
        if remote_start_id is not None:
            info["remote_start_id"] = remote_start_id
        sampled: list[dict[str, Any]] = []
        if wh is not None:
            sampled.append({"value": wh, "measurand": "Energy.Active.Import.Register",
                            "context": context})
        if power_w is not None:
            sampled.append({"value": power_w, "measurand": "Power.Active.Import",
                            "context": context, "unit_of_measure": {"unit": "W"}})
        if seq_no is None:
            seq_no, self.seq = self.seq, self.seq + 1
        return await self.call(call.TransactionEvent(
            event_type=event_type, timestamp=timestamp or now(), trigger_reason=trigger,
            seq_no=seq_no, transaction_info=info, offline=offline or None,
            id_token={"id_token": token, "type": token_type} if token else None,
            evse={"id": evse, "connector_id": connector} if evse is not None else None,
            meter_value=[{"timestamp": timestamp or now(), "sampled_value": sampled}]
            if sampled else None))


@contextlib.asynccontextmanager
async def connect_charger201(server: TestServer | None, cpid: str, password: str | None = None,
                             protocols: tuple[str, ...] = ("ocpp2.0.1",), *,
                             url: str | None = None, ssl_context: ssl.SSLContext | None = None,
                             kind: type[SimCharger201] = SimCharger201,
                             ) -> AsyncIterator[SimCharger201]:
    """A charger connected to the test server, or to `url` (a 2.0.1 CSMS URL: the charger
    adds its id) with `ssl_context` for wss://."""
    headers = {}
    if password is not None:
        token = base64.b64encode(f"{cpid}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    async with aiohttp.ClientSession() as session:
        if url is None:
            assert server is not None
            address = ws_url(server, cpid)
        else:
            address = f"{url.rstrip('/')}/{cpid}"
        ws = await session.ws_connect(address, protocols=protocols, headers=headers,
                                      autoping=True, ssl=ssl_context if ssl_context else True)
        assert ws.protocol == "ocpp2.0.1", ws.protocol
        cp = kind(cpid, ClientTransport(ws))
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            for work in [*cp._tasks, task]:
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                    await work
            await ws.close()
