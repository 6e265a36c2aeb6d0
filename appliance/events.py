"""In-process events: small dataclasses and a pub/sub bus with one bounded queue per subscriber.

Live pages subscribe here; the OCPP hub and the charging room publish. A slow subscriber never
blocks a publisher: it gets each running session's newest meter values once, and past its bound
it loses the oldest meter values first (the next sample brings them again), a state change only
when nothing else is left to lose."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
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
class Resync(Event):
    """This process may have missed events of the others (hosted: its LISTEN connection was
    lost and is back): whatever follows events to keep state reads that state again. Never
    sent to another process."""


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


class _Waiting:
    """A subscriber's waiting events, oldest first: state changes in a deque, meter values by
    session (a newer SessionMeter takes the place of the one still waiting for its session).
    Each is numbered as it first waits, so they come out in that order.

    Why: at 10,000 chargers some 2,000 meter values a second reach every subscriber. A staff
    page's stream that fell 256 events behind lost the oldest, and with them the status changes
    and stops among them (the bench's money probe: a status change never reached the live
    dashboard)."""

    __slots__ = ("limit", "_changes", "_meters", "_number")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._changes: deque[tuple[int, Event]] = deque()
        self._meters: OrderedDict[int, tuple[int, Event]] = OrderedDict()
        self._number = 0

    def __len__(self) -> int:
        return len(self._changes) + len(self._meters)

    def put(self, event: Event) -> None:
        self._number += 1
        if isinstance(event, SessionMeter):
            waiting = self._meters.get(event.session_id)
            self._meters[event.session_id] = (waiting[0] if waiting else self._number, event)
        else:
            self._changes.append((self._number, event))
        if len(self) > self.limit:
            if self._meters:
                self._meters.popitem(last=False)
            else:
                self._changes.popleft()

    def get(self) -> Event:
        if self._changes and (not self._meters
                              or self._changes[0][0] < next(iter(self._meters.values()))[0]):
            return self._changes.popleft()[1]
        return self._meters.popitem(last=False)[1][1]


class _Queue(asyncio.Queue[Event]):
    """asyncio's queue (its waiting readers, `get`, `empty`) over `_Waiting`: never full."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        super().__init__()

    def _init(self, maxsize: int) -> None:
        self._queue = _Waiting(self._limit)

    def _put(self, item: Event) -> None:
        self._queue.put(item)

    def _get(self) -> Event:
        return self._queue.get()


class EventBus:
    """Fan-out of events to subscribers, each with a bounded queue. On a hosted installation
    `forward` sends what is published here to the other processes too; what they send is
    `deliver`ed here without going back."""

    def __init__(self, queue_size: int = 256) -> None:
        self._queue_size = queue_size
        # Each subscriber's queue, the kinds of event it takes (None: every kind), and what
        # else an event must pass to be put in it (None: nothing).
        self._subscribers: dict[asyncio.Queue[Event], tuple[
            tuple[type[Event], ...] | None, Callable[[Event], bool] | None]] = {}
        # Subscribers that act on what happened in this process only: the same event reaches
        # every process of a hosted installation, and one of them is to act on it.
        self._local: set[asyncio.Queue[Event]] = set()
        self.forward: Callable[[Event], None] | None = None

    def publish(self, event: Event) -> None:
        self.deliver(event, here=True)
        if self.forward is not None:
            self.forward(event)

    def deliver(self, event: Event, here: bool = False) -> None:
        """To this process's subscribers only (those that take its kind); an event published
        by another process (`here` False) skips the subscribers that act on local ones."""
        for queue, (kinds, accept) in self._subscribers.items():
            if kinds is not None and not isinstance(event, kinds):
                continue
            if not here and queue in self._local:
                continue
            if accept is not None and not accept(event):
                continue
            queue.put_nowait(event)  # never full: past its bound, it lets go of the oldest

    def takers(self, event: Event) -> int:
        """How many of this process's subscribers would take this event, published here."""
        return sum(1 for kinds, accept in self._subscribers.values()
                   if (kinds is None or isinstance(event, kinds))
                   and (accept is None or accept(event)))

    @asynccontextmanager
    async def subscribe(self, kinds: tuple[type[Event], ...] | None = None,
                        accept: Callable[[Event], bool] | None = None, local: bool = False,
                        size: int | None = None) -> AsyncIterator[asyncio.Queue[Event]]:
        """A queue of the events published from now on; with `kinds`, of those kinds only, and
        with `accept`, only those it accepts (asked as each is published: cheap, and never
        awaiting). A background listener that acts on a few kinds names them, and says which
        of them it would ignore: every event put in its queue wakes its task (a MeterValues'
        SessionMeter, thousands a second, woke every listener). With `local`, only those
        published in this process: a listener that acts once per event (a phone told that
        its session ended) leaves the other processes' events to their own listener. `size`:
        how many events may wait (the bus's default otherwise) before the oldest meter values
        give way."""
        queue: asyncio.Queue[Event] = _Queue(size or self._queue_size)
        self._subscribers[queue] = (kinds, accept)
        if local:
            self._local.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.pop(queue, None)
            self._local.discard(queue)
