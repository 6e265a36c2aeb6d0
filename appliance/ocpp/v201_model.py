"""A 2.0.1 connection's questions about its charger's device model: the whole model
(GetBaseReport) or a part (GetReport), each awaited until its last NotifyReport is stored;
GetVariables and SetVariables in as many messages as the charger takes; and what prepaid money
needs set after an Accepted boot. The base of `v201.ChargePoint201`, whose NotifyReport
handler completes the reports."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import TYPE_CHECKING, Any

from appliance.charging import stations
from appliance.charging.control import Configuration
from appliance.db.models import utcnow
from appliance.db.site import site_value
from appliance.errors import ApplianceError, ChargerTimeout
from appliance.ocpp import commands201, devicemodel201, managed
from appliance.ocpp.protocol import Connection

if TYPE_CHECKING:
    from appliance.db.database import Database
    from appliance.ocpp.v16 import Services

log = logging.getLogger(__name__)

_REQUEST_IDS = itertools.count(1)
MASTER_PASS = ("AuthCtrlr", "MasterPassGroupId")


class DeviceModelCalls(Connection):
    """The device model part of `v201.ChargePoint201` (which sets these attributes)."""

    if TYPE_CHECKING:
        services: Services
        shows_cost: bool
        _reports: dict[int, asyncio.Future[None]]  # requestId -> report complete
        _partial: dict[int, dict[str, Any]]  # GetReport's requestId -> its entries

        @property
        def db(self) -> Database: ...

    def _read_display(self, model: dict[str, dict[str, Any]]) -> None:
        self.shows_cost = devicemodel201.shows_cost(model)

    async def full_report(self) -> None:
        """Ask for the whole device model and wait until its last part is stored."""
        request_id = next(_REQUEST_IDS)
        await self._reported(request_id, devicemodel201.get_base_report(request_id))
        self._read_display(await self.db.read(stations.device_model, self.station_id))

    async def _reported(self, request_id: int, call: commands201.Call) -> str:
        """Send a report request and wait until the last NotifyReport of it is stored."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reports[request_id] = waiter
        try:
            answer = await self.call(*call)
            status = str(answer.get("status"))
            if status not in ("Accepted", "EmptyResultSet"):
                raise ApplianceError(f"charger answered {call[0]} with {status}")
            if status == "Accepted":
                try:
                    await asyncio.wait_for(waiter, self.services.settings.call_timeout * 3)
                except TimeoutError as err:
                    raise ChargerTimeout(f"charger {self.id} did not finish its report") from err
            return status
        finally:
            self._reports.pop(request_id, None)

    async def report(self, criteria: list[str], keys: list[str]) -> dict[str, dict[str, Any]]:
        """GetReport of the components and variables named (all: none named) that meet the
        criteria: as many requests as the charger's ItemsPerMessage and BytesPerMessage ask
        for, their reports merged into the stored device model and returned."""
        devicemodel201.check_criteria(criteria)
        wanted = [devicemodel201.report_filter(k) for k in keys]
        model = await self.db.read(stations.device_model, self.station_id)
        out: dict[str, dict[str, Any]] = {}
        for part in devicemodel201.split("GetReport", "componentVariable", wanted, model):
            request_id = next(_REQUEST_IDS)
            found: dict[str, dict[str, Any]] = {}
            self._partial[request_id] = found
            try:
                await self._reported(request_id, devicemodel201.report_request(
                    request_id, criteria, [wanted[i] for i in part]))
            finally:
                self._partial.pop(request_id, None)
            out.update(found)
        self._read_display(await self.db.read(stations.device_model, self.station_id))
        return out

    async def set_variables(self, values: dict[str, str]) -> dict[str, str]:
        """SetVariables of several values, in as many messages as the charger takes (its
        ItemsPerMessage and BytesPerMessage), the statuses merged by key."""
        keys = list(values)
        data = commands201.set_variable_data(values)
        model = await self.db.read(stations.device_model, self.station_id)
        out: dict[str, str] = {}
        for part in devicemodel201.split("SetVariables", "setVariableData", data, model):
            answer = await self.call("SetVariables",
                                     {"setVariableData": [data[i] for i in part]})
            out.update(commands201.set_statuses([keys[i] for i in part], answer))
        return out

    async def configuration(self, keys: list[str] | None) -> Configuration:
        """The named keys (GetVariables) or, without names, the whole device model as just
        reported (GetBaseReport, then NotifyReport)."""
        if keys:
            # As many messages as the charger's ItemsPerMessage and BytesPerMessage ask for.
            model = await self.db.read(stations.device_model, self.station_id)
            data = commands201.get_variables(keys)[1]["getVariableData"]
            items, unknown = [], []
            for part in devicemodel201.split("GetVariables", "getVariableData", data, model):
                named = [keys[i] for i in part]
                got = commands201.configuration(named, await self.call(
                    *commands201.get_variables(named)))
                items += got.items
                unknown += got.unknown
            return Configuration(items, unknown)
        await self.full_report()
        model = await self.db.read(stations.device_model, self.station_id)
        return devicemodel201.configuration_from_model(model)

    async def _read_device_model(self) -> None:
        """After an Accepted boot of a managed station: read its device model, then set what
        prepaid money needs (1.6's managed profile, at its 2.0.1 addresses)."""
        try:
            await self.full_report()
        except ApplianceError as err:
            log.info("%s: device model not read: %s", self.id, err.message)
            return
        model = await self.db.read(stations.device_model, self.station_id)
        outcome: dict[str, str] = {}
        for key, wanted in managed.PROFILE_16.items():
            address = "/".join(commands201.component_variable(key))
            outcome[address] = await self._set_managed(key, model.get(address, {}), wanted)
        master = str(await self.db.read(site_value, "masterpass_group", "") or "")
        address = "/".join(MASTER_PASS)
        if master and "Actual" in model.get(address, {}):
            # The site's master pass group: its cards stop any transaction here, start none.
            outcome[address] = await self._set_managed(address, model[address], master,
                                                       exact=True)
        refused = sorted(k for k, v in outcome.items()
                         if v not in ("already set", "Accepted", "RebootRequired"))
        await self.db.run(stations.record_notice, self.station_id, "managed_configuration",
                          {"outcome": outcome, "refused": refused}, utcnow())

    async def _set_managed(self, key: str, current: dict[str, Any], wanted: str,
                           exact: bool = False) -> str:
        """One managed value: set it unless the charger has it already; what came of it."""
        if "Actual" not in current:
            return "unknown to the charger"
        have = str(current["Actual"])
        if have == wanted or (not exact and managed.same(have, wanted)):
            return "already set"
        try:
            return commands201.status(await self.call(
                *commands201.change_configuration(key, wanted)))
        except ApplianceError as err:
            return err.message
