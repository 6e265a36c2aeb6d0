"""Receipt numbers: one per settled session, given once and never again."""

from __future__ import annotations

from appliance.db.models_driver import Receipt


def number(session_id: int) -> int:
    """The session's receipt number (a UNIQUE session: a second call finds the first)."""
    Receipt.insert(session=session_id).on_conflict_ignore().execute()
    return int(Receipt.get(Receipt.session == session_id).id)
