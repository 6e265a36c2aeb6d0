"""The event bus under a flood: a subscriber that falls behind (a staff page's stream while a
10,000-charger site sends some 2,000 meter values a second) keeps every state change and each
running session's newest meter values; what it loses first is meter values a newer sample brings
again. (The bench's money probe saw a status change never reach the live dashboard: 256 meter
values had pushed it out of the stream's queue.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from appliance.events import ConnectorStatus, EventBus, SessionMeter, SessionStopped

AT = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)  # one time for all: events compare equal by value


def _meter(session: int, energy: int) -> SessionMeter:
    return SessionMeter(session_id=session, station_id=f"CP{session}", connector_id=1,
                        energy_wh=energy, power_w=7000, at=AT)


def _status(status: str) -> ConnectorStatus:
    return ConnectorStatus(station_id="PROBE", connector_id=2, status=status,
                           error_code="NoError", at=AT)


def _drain(queue: asyncio.Queue[object]) -> list[object]:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


async def test_a_status_change_outlives_a_flood_of_meter_values() -> None:
    bus = EventBus(queue_size=256)
    async with bus.subscribe() as queue:
        bus.publish(_status("Available"))
        for session in range(1, 1001):  # a thousand sessions report before the page reads
            bus.publish(_meter(session, 100))
        waiting = _drain(queue)
    assert waiting[0] == _status("Available")
    assert len(waiting) <= 256  # bounded all the same: the oldest meter values went


async def test_a_session_s_meter_values_wait_once_the_newest() -> None:
    bus = EventBus()
    async with bus.subscribe() as queue:
        bus.publish(_meter(7, 100))
        bus.publish(_status("Charging"))
        for energy in range(101, 200):
            bus.publish(_meter(7, energy))
        bus.publish(_meter(8, 50))
        stopped = SessionStopped(transaction_id=7, station_id="CP7", at=AT)
        bus.publish(stopped)
        waiting = _drain(queue)
    # In the order they first waited, each session's meter values once, as the newest.
    assert waiting == [_meter(7, 199), _status("Charging"), _meter(8, 50), stopped]


async def test_state_changes_alone_are_bounded_too() -> None:
    bus = EventBus(queue_size=16)
    async with bus.subscribe() as queue:
        for n in range(40):
            bus.publish(_status(f"S{n}"))
        waiting = _drain(queue)
    assert waiting == [_status(f"S{n}") for n in range(24, 40)]  # the newest 16


async def test_a_waiting_reader_wakes_for_a_meter_value() -> None:
    bus = EventBus()
    async with bus.subscribe() as queue:
        reader = asyncio.ensure_future(queue.get())
        await asyncio.sleep(0)
        bus.publish(_meter(3, 10))
        assert await asyncio.wait_for(reader, 1) == _meter(3, 10)


async def test_a_listener_is_not_woken_for_what_it_would_ignore() -> None:
    """`accept` is asked as each event is published: load management takes the meter values
    of chargers in a power group only (on most sites none), every other kind it listens to."""
    from appliance.power.loop import LISTENS_TO, PowerManager

    bus = EventBus(queue_size=256)
    manager = PowerManager(control=None, database=None, bus=bus)  # type: ignore[arg-type]
    manager.group_of = {"CP2": 7}
    async with bus.subscribe(LISTENS_TO, manager._concerns) as queue:
        for session in (1, 2, 3):
            bus.publish(_meter(session, 100))
        bus.publish(SessionStopped(transaction_id=5, station_id="CP1", at=AT))
        bus.publish(_status("Charging"))  # not a kind it listens to
        assert _drain(queue) == [_meter(2, 100),
                                 SessionStopped(transaction_id=5, station_id="CP1", at=AT)]


async def test_a_local_listener_hears_its_own_process_only() -> None:
    """Hosted: an event another process published reaches every subscriber here (`deliver`)
    but a local one, which acts once per event where it happened (the push to a phone)."""
    bus = EventBus()
    here, there = SessionStopped(7, "CP7", at=AT), SessionStopped(8, "CP8", at=AT)
    async with bus.subscribe((SessionStopped,), local=True) as local, \
            bus.subscribe((SessionStopped,)) as every:
        bus.publish(here)
        bus.deliver(there)
        assert _drain(local) == [here]
        assert _drain(every) == [here, there]
    assert not bus._local  # a listener gone leaves nothing behind
