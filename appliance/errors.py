"""The one exception tree of the appliance. Library errors are wrapped at the edges with
`raise Ours(...) from err`; the web error middleware maps these to HTTP answers."""

from __future__ import annotations

from typing import Any


class ApplianceError(Exception):
    """Root of every error we raise on purpose. `code` and `http_status` drive the API answer."""

    code = "internal_error"
    http_status = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ConfigError(ApplianceError):
    code = "config_error"


class DatabaseError(ApplianceError):
    code = "database_error"


class SchemaVersionError(DatabaseError):
    code = "schema_version"


class InvalidInput(ApplianceError):
    code = "invalid_input"
    http_status = 400


class Unprocessable(ApplianceError):
    code = "unprocessable"
    http_status = 422


class NotFound(ApplianceError):
    code = "not_found"
    http_status = 404


class Conflict(ApplianceError):
    code = "conflict"
    http_status = 409


class Unavailable(ApplianceError):
    """Full for now (a bounded list or pool); the same request may succeed later."""

    code = "unavailable"
    http_status = 503


class Unauthorized(ApplianceError):
    code = "unauthorized"
    http_status = 401


class Forbidden(ApplianceError):
    code = "forbidden"
    http_status = 403


class ChargerError(ApplianceError):
    """A command to a charger did not get a usable answer."""

    code = "charger_error"
    http_status = 502


class ChargerOffline(ChargerError):
    code = "charger_offline"
    http_status = 409


class ChargerCallError(ChargerError):
    code = "charger_call_error"
    http_status = 502


class ChargerTimeout(ChargerError):
    code = "charger_timeout"
    http_status = 504


class InvalidOcppPayload(ChargerError):
    code = "invalid_ocpp_payload"
    http_status = 400


class ReaderError(ApplianceError):
    code = "reader_error"
