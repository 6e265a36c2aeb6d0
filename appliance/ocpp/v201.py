"""OCPP 2.0.1 handlers: thin translations of each charger message into the same version-neutral
calls on `charging` and `billing` as 1.6's (`v16.py`), answered with the payload OCPP 2.0.1 wants.
A socket is (EVSE, connector); the session and status rooms know it by its EVSE id, which is
what a 1.6 connector number is. What the box asks of the device model is `v201_model.py`'s."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import datetime
from typing import Any

from ocpp.exceptions import OCPPError, PropertyConstraintViolationError, SecurityError

from appliance import events
from appliance.billing import authorize as auth
from appliance.billing import quotes, watch
from appliance.charging import batched, metering, sessions, stations
from appliance.db.database import Database
from appliance.db.models import utcnow
from appliance.errors import ApplianceError
from appliance.ocpp import commands201, devicemodel201, security, tx201
from appliance.ocpp.protocol import Received, ocpp_time, on
from appliance.ocpp.v16 import Services
from appliance.ocpp.v201_model import DeviceModelCalls

log = logging.getLogger(__name__)

BOOT_FIELDS = {"chargePointVendor": "vendorName", "chargePointModel": "model",
               "chargePointSerialNumber": "serialNumber", "firmwareVersion": "firmwareVersion"}
# A transaction's charging state as the connector status the rest of the box reads (idle fees
# count SuspendedEV, a QR start needs Preparing). Idle (no EV) is left to StatusNotification.
CHARGING_STATES = {"Charging": "Charging", "SuspendedEV": "SuspendedEV",
                   "SuspendedEVSE": "SuspendedEVSE", "EVConnected": "Preparing"}
# Inside a running transaction, EVConnected is a car plugged in that takes no energy and is not
# held back by the site (that is SuspendedEVSE): for the idle fee it is 1.6's SuspendedEV.
RUNNING_STATES = {**CHARGING_STATES, "EVConnected": "SuspendedEV"}


def id_token_info(decision: auth.Decision) -> dict[str, Any]:
    """A decision as 2.0.1's IdTokenInfo: the driver's group tag is the groupIdToken."""
    info: dict[str, Any] = {"status": decision.status}
    if decision.parent_id_tag:
        info["groupIdToken"] = {"idToken": decision.parent_id_tag, "type": "Central"}
    if decision.expiry is not None:
        info["cacheExpiryDateTime"] = ocpp_time(decision.expiry)
    return info


def boot16(payload: dict[str, Any]) -> dict[str, Any]:
    """BootNotification's station identity in the form the stations room stores."""
    station = payload.get("chargingStation") or {}
    out = {ours: station[theirs] for ours, theirs in BOOT_FIELDS.items() if theirs in station}
    modem = station.get("modem") or {}
    out.update({k: modem[k] for k in ("iccid", "imsi") if k in modem})
    return out


class ChargePoint201(DeviceModelCalls):
    version = "2.0.1"
    # Reports about charging: answered whenever their business key is readable.
    lenient_actions = frozenset({"TransactionEvent", "MeterValues"})
    error_renames = {"FormationViolation": "FormatViolation"}
    unknown_type_error = "MessageTypeNotSupported"

    def __init__(self, cpid: str, station_id: int, transport: Any, services: Services,
                 frame_sink: Any, registration: str, managed: bool = True) -> None:
        super().__init__(cpid, station_id, transport, call_timeout=services.settings.call_timeout,
                         frame_sink=frame_sink)
        self.services = services
        self.registration = registration
        self.managed = managed
        self.booted = False
        self._reports: dict[int, asyncio.Future[None]] = {}  # requestId -> report complete
        self._partial: dict[int, dict[str, Any]] = {}  # GetReport's requestId -> its entries
        # EVSEs whose transaction ended with the EV still plugged in: "Occupied" there is 1.6's
        # Finishing (not free for a new start) until the connector is Available again.
        self._finished: set[int] = set()
        # The register at a transaction's start when nobody was named yet (plugged in before
        # authorizing): the session starts with the first event that names a token, from it.
        self._begins: dict[str, list[dict[str, Any]]] = {}
        # reference -> (our transaction id, EVSE) of the sessions running here: their periodic
        # Updated events go to the group-committed report writer like 1.6's MeterValues.
        self._live: dict[str, tuple[int, int]] = {}
        # Whether it shows the running cost we send (TariffCostCtrlr, from its device model).
        self.shows_cost = False
        # EVSEs of several connectors: EVSE -> connector -> its 2.0.1 status (read once).
        self._plugs: dict[int, dict[int, str]] | None = None
        self._first_plug: dict[int, str] = {}  # the others: connector 1's last status

    @property
    def db(self) -> Database:
        return self.services.database

    def refusal(self, action: str) -> OCPPError | None:
        # 2.0.1 (B02): until it is accepted a station may only boot; the rest is SecurityError.
        if self.registration != "Accepted" and action != "BootNotification":
            return SecurityError(details={"cause": "the station is not accepted"})
        return None

    def business_key_readable(self, action: str, payload: dict[str, Any]) -> bool:
        if action == "TransactionEvent":
            info = payload.get("transactionInfo")
            return isinstance(info, dict) and isinstance(info.get("transactionId"), str) \
                and payload.get("eventType") in ("Started", "Updated", "Ended")
        if action == "MeterValues":
            return isinstance(payload.get("evseId"), int)
        return False

    async def after_connect(self, delay_s: float) -> None:
        """Sessions that ran out of money while the charger was away are stopped now."""
        self._read_display(await self.db.read(stations.device_model, self.station_id))
        await asyncio.sleep(delay_s)
        for tx in await self._report(watch.overdue_stops, watch.overdue_stops_many,
                                     self.station_id, utcnow()):
            reference = await self.db.read(sessions.reference_of, self.station_id, tx)
            if reference is not None:
                await self._remote_stop(reference)

    async def _report(self, fn: Any, many: Any, *args: Any) -> Any:
        writer = self.services.reports
        return await (writer.run(fn, *args, many=many, source=self.station_id)
                      if writer is not None
                      else self.db.run(fn, *args))

    def _check_evse(self, evse_id: Any, station_level: bool) -> None:
        if not stations.connector_allowed(evse_id, self.connector_limit, station_level):
            raise PropertyConstraintViolationError(details={
                "cause": f"evseId {evse_id} is not an EVSE of this charger "
                         f"({'0, ' if station_level else ''}1..{self.connector_limit})"})

    # --- B provisioning -----------------------------------------------------------------------
    @on("BootNotification")
    async def on_boot(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        registration, _ = await self._report(stations.record_boot, stations.record_boot_many,
                                             self.station_id, boot16(payload), rx.at)
        self.registration = registration
        self.booted = True
        self.services.bus.publish(events.StationBooted(self.id, registration))
        if registration == "Accepted" and self.managed:
            # After the answer: the charger takes our calls only once it has its boot answer.
            self.after_answer(self._read_device_model)
        s = self.services.settings
        interval = s.heartbeat_interval if registration == "Accepted" else s.pending_interval
        return {"status": registration, "currentTime": ocpp_time(), "interval": interval}

    @on("Heartbeat")
    async def on_heartbeat(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        if self.services.liveness is not None:
            self.services.liveness.touch(self.station_id, rx.at)
        else:
            await self.db.run(stations.touch, self.station_id, rx.at)
        return {"currentTime": ocpp_time()}

    @on("StatusNotification")
    async def on_status(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        evse_id, status = payload["evseId"], payload["connectorStatus"]
        self._check_evse(evse_id, station_level=True)
        status, plug = await self._evse_status(evse_id, payload["connectorId"], status, rx.at)
        info = "" if plug == 1 else f"connector {plug}"
        if status == "Occupied":  # plugged in: before a transaction or after one
            status = "Finishing" if evse_id in self._finished else "Preparing"
            info = " ".join(filter(None, ("Occupied", info)))
        elif status == "Available":
            self._finished.discard(evse_id)
        await self._connector_status(evse_id, status, payload.get("timestamp"), info, rx.at)
        return {}

    async def _evse_status(self, evse_id: int, plug: int, status: str, at: datetime
                           ) -> tuple[str, int]:
        """The EVSE's status from its connectors' (one connector in use makes it in use), and
        the connector it comes from. An EVSE of one connector costs no database work."""
        if self._plugs is None:  # once a connection: the EVSEs of several known before
            self._plugs = await self.db.read(stations.station_plugs, self.station_id)
        plugs = self._plugs.get(evse_id)
        if evse_id == 0 or (plug == 1 and plugs is None):
            self._first_plug[evse_id] = status
            return status, plug
        if plugs is None:
            plugs = self._plugs[evse_id] = {1: self._first_plug.get(evse_id, "Unknown")}
        if plug not in plugs and len(plugs) >= stations.PLUGS_MAX:
            raise PropertyConstraintViolationError(details={
                "cause": f"more than {stations.PLUGS_MAX} connectors on EVSE {evse_id}"})
        plugs[plug] = status
        await self.db.run(stations.record_plug, self.station_id, evse_id, dict(plugs), plug, at)
        return stations.evse_status(plugs)

    async def _connector_status(self, evse_id: int, status: str, timestamp: Any, info: str,
                                at: datetime) -> None:
        report = {"connectorId": evse_id, "status": status, "errorCode": "NoError",
                  "timestamp": timestamp, "info": info}
        await self._report(batched.record_status, batched.record_statuses, self.station_id,
                           report, at)
        self.services.bus.publish(events.ConnectorStatus(self.id, evse_id, status, "NoError"))

    @on("NotifyReport")
    async def on_notify_report(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        entries = devicemodel201.report_entries(payload.get("reportData"))
        partial = self._partial.get(payload["requestId"])
        if partial is not None:
            partial.update(entries)  # a GetReport's answer: merged into the model, not over it
        await self.db.run(stations.record_device_model, self.station_id, entries,
                          payload.get("seqNo") == 0 and partial is None)
        waiter = self._reports.get(payload["requestId"])
        if not payload.get("tbc") and waiter is not None:
            async def complete() -> None:  # once the charger has its answer
                if not waiter.done():
                    waiter.set_result(None)

            self.after_answer(complete)
        return {}

    # --- C authorization ----------------------------------------------------------------------
    @on("Authorize")
    async def on_authorize(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        token = str(payload["idToken"]["idToken"])
        decision = await self.db.run(auth.authorize, token, self.station_id, rx.at,
                                     payload["idToken"]["type"])
        self.services.bus.publish(events.TagSeen(token, "charger", decision.status != "Invalid"))
        info = id_token_info(decision)
        if decision.status == "Accepted":
            # The driver's price on the charger's own display, in the driver's language.
            shown = await self.db.read(quotes.display_price, token, self.station_id, rx.at)
            if shown is not None:
                info["personalMessage"] = {"format": "UTF8", "content": shown["text"][:512]}
                info["personalMessage"]["language"] = shown["language"]
                if shown["chosen"]:  # the driver's own choice, not the site's
                    info["language1"] = shown["language"]
        return {"idTokenInfo": info}

    # --- E transactions, J meter values -------------------------------------------------------
    @on("TransactionEvent")
    async def on_transaction_event(self, payload: dict[str, Any], rx: Received
                                   ) -> dict[str, Any]:
        event = self._with_begin(tx201.read_event(payload))
        if event.evse is not None:
            self._check_evse(event.evse, station_level=False)
        live = self._live.get(event.reference)
        if live is not None and event.kind == "Updated" and event.id_token is None \
                and not event.offline:
            return await self._updated(event, payload, live, rx)
        out = await self.db.run(tx201.transaction_event, self.station_id, event, rx.raw, rx.at,
                                self.services.settings.clock_skew_limit, sessions.MAX_POWER_W,
                                rx.flags)
        session = out.session
        if session is not None and session.state == "active" and event.kind != "Ended" \
                and len(self._live) < 256:
            self._live[event.reference] = (session.transaction_id, session.connector_id)
        else:
            self._live.pop(event.reference, None)
        if session is not None:
            await self._charging_state(event, payload, session.connector_id, rx.at,
                                       running=session.state == "active")
            self._publish(event, out, session)
            if out.stop_needed and session.state == "active":
                reference = event.reference
                self.after_answer(lambda: self._remote_stop(reference))
        answer: dict[str, Any] = {"idTokenInfo": id_token_info(out.decision)} \
            if event.id_token is not None and out.decision is not None else {}
        if event.kind == "Ended" and session is not None:
            # What the session cost, for the charger's display (the receipt's amount).
            shown = await self.db.read(quotes.display_cost, self.station_id,
                                       session.transaction_id, rx.at)
            if shown is not None:
                answer["totalCost"] = float(quotes.shown_amount(shown["fee"], shown["currency"],
                                                                None))
        return answer

    async def _updated(self, event: tx201.Event, payload: dict[str, Any],
                       live: tuple[int, int], rx: Received) -> dict[str, Any]:
        """A running session's Updated event naming nobody: its meter values are a report,
        group-committed with the other chargers' (the same calls as the slow path's)."""
        transaction_id, evse_id = live
        if event.meter_value:
            report = {"connectorId": evse_id, "transactionId": transaction_id,
                      "meterValue": event.meter_value}
            session, stop_needed = await self._report(
                auth.meter_values, auth.meter_values_many, self.station_id, report, rx.at,
                metering.parse_moments(event.meter_value))
            if session is not None:
                if rx.flags:
                    await self.db.run(sessions.mark_flag, session.id, "schema_violation")
                self._publish(event, tx201.Outcome(session=session), session)
                if stop_needed and session.state == "active":
                    reference = event.reference
                    self.after_answer(lambda: self._remote_stop(reference))
                elif self.shows_cost and session.state == "active":
                    self._cost_update(event.reference, transaction_id, rx.at)
        await self._charging_state(event, payload, evse_id, rx.at, running=True)
        return {}

    def _cost_update(self, reference: str, transaction_id: int, at: datetime) -> None:
        """The running cost on the charger's display (CostUpdated), once the answer is out."""
        async def send() -> None:
            shown = await self.db.read(quotes.display_cost, self.station_id, transaction_id, at)
            if shown is None:
                return
            total = float(quotes.shown_amount(shown["fee"], shown["currency"], None))
            try:
                await self.call("CostUpdated", {"totalCost": total, "transactionId": reference})
            except ApplianceError as err:  # a display: the money does not depend on it
                log.info("%s: running cost not shown: %s", self.id, err.message)

        self.after_answer(send)

    def _with_begin(self, event: tx201.Event) -> tx201.Event:
        if event.kind == "Started" and event.id_token is None:
            if event.meter_value and len(self._begins) < 64:
                self._begins[event.reference] = event.meter_value
            return event
        begin = self._begins.pop(event.reference, None)
        if begin is None:
            return event
        return dataclasses.replace(event, meter_value=[*begin, *event.meter_value])

    async def _charging_state(self, event: tx201.Event, payload: dict[str, Any], evse_id: int,
                              at: datetime, running: bool) -> None:
        state = (payload.get("transactionInfo") or {}).get("chargingState")
        if event.kind == "Ended":
            if state != "Idle":
                self._finished.add(evse_id)
            status: str | None = "Available" if state == "Idle" else "Finishing"
        else:
            status = (RUNNING_STATES if running else CHARGING_STATES).get(state or "")
        if status is not None:
            await self._connector_status(evse_id, status, payload.get("timestamp"), "", at)

    def _publish(self, event: tx201.Event, out: tx201.Outcome, session: Any) -> None:
        bus = self.services.bus
        if out.started:
            bus.publish(events.SessionStarted(session.transaction_id, self.id,
                                              session.connector_id, session.id_tag))
        if event.meter_value:
            bus.publish(events.SessionMeter(session.id, self.id, session.connector_id,
                                            session.energy_wh, session.power_w))
        if event.kind == "Ended":
            bus.publish(events.SessionStopped(session.transaction_id, self.id))

    @on("MeterValues")
    async def on_meter_values(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        # Outside a transaction (2.0.1 sends a transaction's values in TransactionEvent): kept
        # as the EVSE's readings, or for the EVSE's running session when it has one.
        self._check_evse(payload["evseId"], station_level=True)
        report = {"connectorId": payload["evseId"],
                  "meterValue": tx201.meter_values16(payload.get("meterValue"))}
        moments = metering.parse_moments(report["meterValue"])
        await self._report(auth.meter_values, auth.meter_values_many, self.station_id, report,
                           rx.at, moments)
        return {}

    async def _remote_stop(self, reference: str) -> None:
        try:
            answer = await self.call(*commands201.remote_stop(reference))
            log.info("%s: stopped transaction %s (out of balance): %s", self.id, reference,
                     answer.get("status"))
        except ApplianceError as err:
            log.warning("%s: could not stop transaction %s (out of balance): %s", self.id,
                        reference, err.message)

    # --- notices: firmware, logs, events, security, data transfer ------------------------------
    async def _notice(self, kind: str, payload: dict[str, Any], at: datetime) -> dict[str, Any]:
        await self.db.run(stations.record_notice, self.station_id, kind, payload, at)
        return {}

    @on("FirmwareStatusNotification")
    async def on_firmware_status(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        return await self._notice("FirmwareStatusNotification", payload, rx.at)

    @on("LogStatusNotification")
    async def on_log_status(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        return await self._notice("LogStatusNotification", payload, rx.at)

    @on("NotifyEvent")
    async def on_notify_event(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        return await self._notice("NotifyEvent", payload, rx.at)

    @on("NotifyChargingLimit")
    async def on_charging_limit(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        return await self._notice("NotifyChargingLimit", payload, rx.at)

    @on("ReportChargingProfiles")
    async def on_charging_profiles(self, payload: dict[str, Any], rx: Received
                                   ) -> dict[str, Any]:
        return await self._notice("ReportChargingProfiles", payload, rx.at)

    @on("NotifyDisplayMessages")
    async def on_display_messages(self, payload: dict[str, Any], rx: Received
                                  ) -> dict[str, Any]:
        return await self._notice("NotifyDisplayMessages", payload, rx.at)

    @on("NotifyMonitoringReport")
    async def on_monitoring_report(self, payload: dict[str, Any], rx: Received
                                   ) -> dict[str, Any]:
        return await self._notice("NotifyMonitoringReport", payload, rx.at)

    @on("NotifyCustomerInformation")
    async def on_customer_information(self, payload: dict[str, Any], rx: Received
                                      ) -> dict[str, Any]:
        return await self._notice("NotifyCustomerInformation", payload, rx.at)

    @on("ReservationStatusUpdate")
    async def on_reservation_status(self, payload: dict[str, Any], rx: Received
                                    ) -> dict[str, Any]:
        return await self._notice("ReservationStatusUpdate", payload, rx.at)

    @on("SecurityEventNotification")
    async def on_security_event(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        await self.db.run(stations.record_security_event, self.station_id, self.id, payload,
                          rx.at)
        return {}

    @on("DataTransfer")
    async def on_data_transfer(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        await self.db.run(stations.record_notice, self.station_id, "DataTransfer", payload, rx.at)
        return {"status": "UnknownVendorId"}

    @on("SignCertificate")
    async def on_sign_certificate(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        # Only an accepted station (refusal() keeps the others out): as 1.6's, by the site CA.
        status, chain = await security.sign_csr(self.services.pki, self.db, self.station_id,
                                                self.id, str(payload.get("csr", "")))
        if chain is not None:
            signed = chain
            self.after_answer(lambda: security.send_signed(self, self.db, signed))
        return {"status": status}

    @on("GetCertificateStatus")
    async def on_certificate_status(self, payload: dict[str, Any], rx: Received
                                    ) -> dict[str, Any]:
        return await security.certificate_status(payload["ocspRequestData"])

    @on("Get15118EVCertificate")
    async def on_ev_certificate(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        return security.ev_certificate_unavailable()
