"""The `ChargerControl` port: how pages, the API and billing command chargers without knowing
which OCPP version a charger speaks. The OCPP hub implements it; `app.py` wires it."""

from __future__ import annotations

from typing import Any, Protocol


class ChargerControl(Protocol):
    def is_online(self, cpid: str) -> bool:
        """Whether a charger with this id (any case) has a live connection."""

    async def raw(self, cpid: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one version-specific OCPP call and return the charger's answer payload.

        Raises ChargerOffline, InvalidOcppPayload, ChargerCallError or ChargerTimeout."""

    async def remote_start(self, cpid: str, connector_id: int, id_tag: str) -> str:
        """Ask the charger to start; returns its status (Accepted or Rejected)."""

    async def remote_stop(self, cpid: str, transaction_id: int) -> str:
        """Ask the charger to stop a transaction; returns its status."""
