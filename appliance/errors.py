"""The one exception tree of the appliance. Library errors are wrapped at the edges with
`raise Ours(...) from err`; the web error middleware maps these to HTTP answers."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any


def N_(text: str) -> str:
    """Marks a text people read for the pages' catalog (pybabel finds it); the page that shows
    it translates it into the reader's language."""
    return text


class Text(str):
    """A text people read, filled in (English), that remembers its catalog entry and values, so
    a page can show it in the reader's language: `Text(N_("card %(tag)s exists"), tag=t)`."""

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, **params: Any) -> Text:
        text = super().__new__(cls, template % params if params else template)
        text.template, text.params = template, params
        return text

    @classmethod
    def recognise(cls, text: str, templates: Iterable[str]) -> str:
        """A text stored in English (a note in the database) back as the `Text` of the first
        of `templates` it was made from, so a page can show it in the reader's language; any
        other text as it is."""
        for template in templates:
            found = _pattern(template).fullmatch(text)
            if found:
                return cls(template, **found.groupdict())
        return text


@functools.lru_cache(maxsize=256)
def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"%\(([a-z_]+)\)s", template)
    return re.compile("".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)"
                              for i, p in enumerate(parts)), re.DOTALL)


class ApplianceError(Exception):
    """Root of every error we raise on purpose. `code` and `http_status` drive the API answer.
    `message` is English (logs, API by default); `params` fill `%(name)s` in a message marked
    with N_, so pages can translate the message and fill it in the reader's language."""

    code = "internal_error"
    http_status = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None,
                 params: dict[str, Any] | None = None) -> None:
        text = Text(message, **params) if params else message
        super().__init__(text)
        self.message: str = text
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


class TooMany(ApplianceError):
    """Asked too often (SMS codes): wait and ask again."""

    code = "too_many_requests"
    http_status = 429


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


class PaymentError(ApplianceError):
    """A payment provider could not be reached or refused a call (unreachable, bad keys, 5xx)."""

    code = "payment_error"
    http_status = 502


class WebhookRefused(ApplianceError):
    """A webhook whose signature (or timestamp) does not verify: refused and logged."""

    code = "webhook_refused"
    http_status = 400


class ReaderError(ApplianceError):
    code = "reader_error"
