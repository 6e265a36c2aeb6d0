"""Drivers' QR pages (issue 6), registered as one page module: importing the parts adds their
routes to the one shared route table."""

from __future__ import annotations

from appliance.web import (  # noqa: F401  (imported for their routes)
    pages_driver_auth,
    pages_driver_me,
    pages_driver_qr,
    pages_driver_start,
)
from appliance.web.pages_driver_common import routes

__all__ = ["routes"]
