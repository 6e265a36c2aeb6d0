"""OCPP 1.6J handlers: thin translations of each charger message into version-neutral calls on
`charging` and `billing`, answered with the payload OCPP 1.6 wants."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ocpp.exceptions import PropertyConstraintViolationError
from ocpp.v16.enums import Action

from appliance import events
from appliance.billing import authorize as auth
from appliance.billing import offline, quotes, watch
from appliance.charging import batched, metering, sessions, stations
from appliance.config import Settings
from appliance.db.database import Database
from appliance.db.models import utcnow
from appliance.errors import ApplianceError
from appliance.events import EventBus
from appliance.ocpp import commands16, managed, security
from appliance.ocpp.batch import Liveness, ReportWriter
from appliance.ocpp.protocol import Connection, Received, ocpp_time, on
from appliance.pki.store import SiteTls

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Services:
    database: Database
    settings: Settings
    bus: EventBus
    # Made by the hub from `database`: group-committed reports and in-memory liveness.
    reports: ReportWriter | None = field(default=None, compare=False)
    liveness: Liveness | None = field(default=None, compare=False)
    # The site CA (security profile 3 signs chargers' CSRs); None: no CA, CSRs are refused.
    pki: SiteTls | None = field(default=None, compare=False)
    # Made by the hub: hears the configuration a connection read at boot (values it keeps).
    configuration_seen: Callable[[Connection, dict[str, Any]], None] | None = field(
        default=None, compare=False)


class ChargePoint16(Connection):
    version = "1.6"
    # Reports about charging: answered whenever their business key is readable.
    lenient_actions = frozenset({"StartTransaction", "StopTransaction", "MeterValues"})

    def __init__(self, cpid: str, station_id: int, transport: Any, services: Services,
                 frame_sink: Any, registration: str, managed: bool = True) -> None:
        super().__init__(cpid, station_id, transport, call_timeout=services.settings.call_timeout,
                         frame_sink=frame_sink)
        self.services = services
        self.registration = registration
        self.managed = managed
        self.booted = False
        self.connected_at = utcnow()  # a start stamped before this happened while we were away
        # Whether the charger shows the prices and costs we send (California pricing), and
        # the decimals it asks for: read with its configuration after an Accepted boot.
        self.display: tuple[bool, int | None] = (False, None)

    async def after_connect(self, delay_s: float) -> None:
        """A known Accepted station that reconnects without booting counts as booted; a
        managed one is asked for its connectors' status."""
        await asyncio.sleep(delay_s)
        for tx in await self._report(watch.overdue_stops, watch.overdue_stops_many,
                                     self.station_id, utcnow()):
            await self._remote_stop(tx)
        if not self.booted and self.registration == "Accepted" and self.managed:
            try:
                await self.call("TriggerMessage", {"requestedMessage": "StatusNotification"})
            except ApplianceError as err:
                log.info("%s: status trigger after reconnect: %s", self.id, err.message)

    @property
    def db(self) -> Database:
        return self.services.database

    def business_key_readable(self, action: str, payload: dict[str, Any]) -> bool:
        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        if action == "StartTransaction":
            return is_int(payload.get("connectorId")) and payload["connectorId"] > 0 \
                and isinstance(payload.get("idTag"), str)
        if action == "StopTransaction":
            return is_int(payload.get("transactionId"))
        if action == "MeterValues":
            return is_int(payload.get("connectorId"))
        return False

    # --- core profile -------------------------------------------------------------------------
    @on(Action.boot_notification)
    async def on_boot(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        registration, _ = await self._report(stations.record_boot, stations.record_boot_many,
                                             self.station_id, payload, rx.at)
        self.registration = registration
        self.booted = True
        self.services.bus.publish(events.StationBooted(self.id, registration))
        if registration == "Accepted" and self.managed:
            # After the answer: the charger takes our calls only once it has its boot answer.
            self.after_answer(lambda: managed.apply_profile(self, self.db, self._configuration))
        s = self.services.settings
        interval = s.heartbeat_interval if registration == "Accepted" else s.pending_interval
        return {"status": registration, "currentTime": ocpp_time(), "interval": interval}

    @on(Action.heartbeat)
    async def on_heartbeat(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        # Nothing to lose: the socket says "online"; last-seen is written every few seconds.
        if self.services.liveness is not None:
            self.services.liveness.touch(self.station_id, rx.at)
        else:
            await self.db.run(stations.touch, self.station_id, rx.at)
        return {"currentTime": ocpp_time()}

    def _report(self, fn: Any, many: Any, *args: Any) -> Awaitable[Any]:
        """A high-rate report, group-committed (through `many`, its set-based form, with the
        other reports of its batch); answered after its batch committed. (The writer's
        awaitable itself, not a coroutine around it: one object fewer per report in flight.)"""
        writer = self.services.reports
        return (writer.run(fn, *args, many=many, source=self.station_id)
                if writer is not None
                else self.db.run(fn, *args))

    def _check_connector(self, payload: dict[str, Any], station_level: bool) -> None:
        """A connector id outside 0 (where allowed) and 1..the charger's count is refused."""
        connector = payload.get("connectorId")
        if not stations.connector_allowed(connector, self.connector_limit, station_level):
            raise PropertyConstraintViolationError(details={
                "cause": f"connectorId {connector} is not a connector of this charger "
                         f"({'0, ' if station_level else ''}1..{self.connector_limit})"})

    @on(Action.status_notification)
    async def on_status(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        self._check_connector(payload, station_level=True)
        await self._report(batched.record_status, batched.record_statuses, self.station_id,
                           payload, rx.at)
        self.services.bus.publish(events.ConnectorStatus(
            self.id, payload["connectorId"], payload["status"], payload["errorCode"]))
        return {}

    @on(Action.authorize)
    async def on_authorize(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        decision = await self.db.run(auth.authorize, payload["idTag"], self.station_id, rx.at)
        self.services.bus.publish(events.TagSeen(payload["idTag"], "charger",
                                                 decision.status != "Invalid"))
        if self.display[0] and decision.status == "Accepted":
            tag = str(payload["idTag"])
            self.after_answer(lambda: self._show_price(tag, rx.at))
        return {"idTagInfo": decision.id_tag_info()}

    @on(Action.start_transaction)
    async def on_start(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        self._check_connector(payload, station_level=False)
        flags = rx.flags + offline.start_flags(payload.get("timestamp"), self.connected_at)
        tx_id, decision = await self.db.run(
            auth.start_transaction, self.station_id, payload, rx.raw, rx.at,
            self.services.settings.clock_skew_limit, flags)
        self.services.bus.publish(events.SessionStarted(
            tx_id, self.id, payload["connectorId"], payload["idTag"]))
        return {"transactionId": tx_id, "idTagInfo": decision.id_tag_info()}

    @on(Action.stop_transaction)
    async def on_stop(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        decision = await self.db.run(
            auth.stop_transaction, self.station_id, payload, rx.raw, rx.at,
            self.services.settings.clock_skew_limit, sessions.MAX_POWER_W)
        if rx.flags:
            await self.db.run(_flag_by_tx, self.station_id, payload, rx.flags)
        self.services.bus.publish(events.SessionStopped(payload["transactionId"], self.id))
        if self.display[0]:
            tx = int(payload["transactionId"])
            self.after_answer(lambda: self._show_cost(tx, rx.at))
        return {"idTagInfo": decision.id_tag_info()} if decision else {}

    @on(Action.meter_values)
    async def on_meter_values(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        self._check_connector(payload, station_level=True)
        # Parsed here, on the event loop, which has time to spare: the writer has none.
        moments = metering.parse_moments(payload.get("meterValue"))
        session, stop_needed = await self._report(auth.meter_values, auth.meter_values_many,
                                                  self.station_id, payload, rx.at, moments)
        if stop_needed and session is not None:
            # Out of money: stop it once this answer is out (never from inside the db call).
            tx = session.transaction_id
            self.after_answer(lambda: self._remote_stop(tx))
        if session is not None:
            if rx.flags:
                await self.db.run(sessions.mark_flag, session.id, "schema_violation")
            self.services.bus.publish(events.SessionMeter(
                session.id, self.id, session.connector_id, session.energy_wh, session.power_w))
            if self.display[0] and session.state == "active":
                running = session.transaction_id
                self.after_answer(lambda: self._show_cost(running, rx.at))
        return {}

    async def _remote_stop(self, transaction_id: int) -> None:
        try:
            status = await self.call("RemoteStopTransaction", {"transactionId": transaction_id})
            log.info("%s: stopped transaction %s (out of balance): %s", self.id,
                     transaction_id, status.get("status"))
        except ApplianceError as err:
            log.warning("%s: could not stop transaction %s (out of balance): %s", self.id,
                        transaction_id, err.message)

    # --- the charger's display (California pricing) ---------------------------------------------
    def _configuration(self, current: dict[str, Any]) -> None:
        if self.services.configuration_seen is not None:
            self.services.configuration_seen(self, current)
        self.display = commands16.display_decimals(current)
        if self.display[0]:
            log.info("%s: shows prices and costs (%s decimals)", self.id, self.display[1])

    async def _show(self, action: str, payload: dict[str, Any]) -> None:
        try:
            answer = await self.call(action, payload)
            log.debug("%s: %s: %s", self.id, payload.get("messageId"), answer.get("status"))
        except ApplianceError as err:  # a display message: the money does not depend on it
            log.info("%s: %s not shown: %s", self.id, payload.get("messageId"), err.message)

    async def _show_price(self, id_tag: str, at: Any) -> None:
        shown = await self.db.read(quotes.display_price, id_tag, self.station_id, at)
        if shown is not None:
            await self._show(*commands16.user_price(id_tag, shown["text"]))

    async def _show_cost(self, transaction_id: int, at: Any) -> None:
        shown = await self.db.read(quotes.display_cost, self.station_id, transaction_id, at)
        if shown is None:
            return
        cost = quotes.shown_amount(shown["fee"], shown["currency"], self.display[1])
        await self._show(*(commands16.final_cost(shown, cost) if shown["final"]
                           else commands16.running_cost(shown, cost, at)))

    @on(Action.data_transfer)
    async def on_data_transfer(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        await self.db.run(stations.record_notice, self.station_id, "DataTransfer", payload, rx.at)
        return {"status": "UnknownVendorId"}

    # --- firmware, diagnostics and the security extension's reports ---------------------------
    async def _notice(self, kind: str, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        await self.db.run(stations.record_notice, self.station_id, kind, payload, rx.at)
        return {}

    @on(Action.firmware_status_notification)
    async def on_firmware_status(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        return await self._notice("FirmwareStatusNotification", payload, rx)

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status(self, payload: dict[str, Any], rx: Received
                                    ) -> dict[str, Any]:
        return await self._notice("DiagnosticsStatusNotification", payload, rx)

    @on(Action.log_status_notification)
    async def on_log_status(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        return await self._notice("LogStatusNotification", payload, rx)

    @on(Action.signed_firmware_status_notification)
    async def on_signed_firmware_status(self, payload: dict[str, Any], rx: Received
                                        ) -> dict[str, Any]:
        return await self._notice("SignedFirmwareStatusNotification", payload, rx)

    @on(Action.security_event_notification)
    async def on_security_event(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        await self.db.run(stations.record_security_event, self.station_id, self.id, payload,
                          rx.at)
        return {}

    @on(Action.sign_certificate)
    async def on_sign_certificate(self, payload: dict[str, Any], rx: Received) -> dict[str, Any]:
        # Only an approved station: a pending id's certificate would let in whoever came first.
        pki = self.services.pki if self.registration == "Accepted" else None
        status, chain = await security.sign_csr(pki, self.db, self.station_id, self.id,
                                                str(payload.get("csr", "")))
        if chain is not None:
            signed = chain
            self.after_answer(lambda: security.send_signed(self, self.db, signed))
        return {"status": status}


def _flag_by_tx(station_id: int, payload: dict[str, Any], flags: list[str]) -> None:
    tx = sessions.transaction_id_of(payload)
    session = sessions.find_session(station_id, tx) if tx is not None else None
    if session is not None:
        for flag in flags:
            sessions.mark_flag(session.id, flag)
