"""In-process events: small dataclasses and a pub/sub bus with one bounded queue per subscriber.

Live pages subscribe here; the OCPP hub and the charging room publish. A slow subscriber loses its
oldest events, never blocks a publisher."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Event:
    at: datetime = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class StationOnline(Event):
    station_id: str
    online: bool


@dataclass(frozen=True)
class StationBooted(Event):
    station_id: str
    registration: str


@dataclass(frozen=True)
class ConnectorStatus(Event):
    station_id: str
    connector_id: int
    status: str
    error_code: str


@dataclass(frozen=True)
class SessionStarted(Event):
    """A StartTransaction was answered; `transaction_id` is the OCPP one we gave out."""

    transaction_id: int
    station_id: str
    connector_id: int
    id_tag: str


@dataclass(frozen=True)
class SessionMeter(Event):
    """New meter values of a running session; `session_id` is our own session id."""

    session_id: int
    station_id: str
    connector_id: int
    energy_wh: int
    power_w: int | None


@dataclass(frozen=True)
class SessionStopped(Event):
    """A StopTransaction was answered (the session is settled by then)."""

    transaction_id: int
    station_id: str


@dataclass(frozen=True)
class CardsChanged(Event):
    """Staff changed cards, drivers or the site's policy: chargers' local lists follow."""

    cause: str


@dataclass(frozen=True)
class SiteSettingsChanged(Event):
    """Staff saved the site settings: every process of a hosted installation reads them again."""


@dataclass(frozen=True)
class PowerConfigChanged(Event):
    """Staff changed power groups or which charger is in which."""


@dataclass(frozen=True)
class PowerAllocated(Event):
    """Load management shared a group's limit: what each session may draw now."""

    group: str
    limit_a: float
    used_a: float
    allowed: dict[str, float]  # "station/connector" -> amperes per phase


@dataclass(frozen=True)
class TagSeen(Event):
    """A card was presented: at the desk reader (`source='reader'`) or at a charger."""

    id_tag: str
    source: str
    known: bool


@dataclass(frozen=True)
class ReaderState(Event):
    reader: str
    present: bool


class EventBus:
    """Fan-out of events to subscribers, each with a bounded queue. On a hosted installation
    `forward` sends what is published here to the other processes too; what they send is
    `deliver`ed here without going back."""

    def __init__(self, queue_size: int = 256) -> None:
        self._queue_size = queue_size
        # Each subscriber's queue, and the kinds of event it takes (None: every kind).
        self._subscribers: dict[asyncio.Queue[Event], tuple[type[Event], ...] | None] = {}
        self.forward: Callable[[Event], None] | None = None

    def publish(self, event: Event) -> None:
        self.deliver(event)
        if self.forward is not None:
            self.forward(event)

    def deliver(self, event: Event) -> None:
        """To this process's subscribers only (those that take its kind)."""
        for queue, kinds in self._subscribers.items():
            if kinds is not None and not isinstance(event, kinds):
                continue
            if queue.full():
                queue.get_nowait()  # drop the oldest: a live view wants the newest
            queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self, kinds: tuple[type[Event], ...] | None = None
                        ) -> AsyncIterator[asyncio.Queue[Event]]:
        """A queue of the events published from now on; with `kinds`, of those kinds only. A
        background listener that acts on a few kinds names them: every event put in its queue
        wakes its task (a MeterValues' SessionMeter, thousands a second, woke every listener)."""
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._subscribers[queue] = kinds
        try:
            yield queue
        finally:
            self._subscribers.pop(queue, None)
