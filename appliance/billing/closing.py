"""Closing sessions whose StopTransaction never came: by staff, or after the site's
`stale_session_hours`; billed to the last meter value and settled in the same database call."""

from __future__ import annotations

from datetime import datetime, timedelta

from appliance.billing.settlement import settle
from appliance.charging import sessions, superseding


def close_and_settle(session_id: int, at: datetime, actor: str, flag: str) -> bool:
    session = sessions.close_open(session_id, at, flag)
    if session is None:
        return False
    settle(session, actor)
    return True


IDLE_GRACE = timedelta(minutes=15)


def close_stale(now: datetime, hours: int) -> int:
    """Close every suspect session untouched for `hours`, and every one whose connector has
    said Available (or Unavailable) for longer than IDLE_GRACE: that transaction is over.
    Returns how many."""
    closed = 0
    for session_id in sessions.stale_suspects(now - timedelta(hours=hours)):
        closed += close_and_settle(session_id, now, "stale-sweep", "closed_stale")
    for session_id in superseding.idle_suspects(now - IDLE_GRACE):
        closed += close_and_settle(session_id, now, "idle-sweep", superseding.SUPERSEDED)
    return closed
