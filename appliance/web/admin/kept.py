"""Figures of the day that a page shows and that cost a read over the whole site's rows of the
day: kept a while, and worked out again in the background while the kept one is shown.

A big site's dashboard is open all day and re-read live about once a second; reading the day's
sessions (or its status history) on every load was most of its read, and what a person waited
on under load. A kept figure is shown while it is fresh; a stale one is shown once more while
the next is worked out in the background; one too old, or of another day, is waited for. A
figure not worth keeping (a small site's, cheap to read) is read on every load."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Figure(Generic[T]):
    at: float  # the clock when it was read
    day: str
    value: T


class Kept(Generic[T]):
    """Figures by key (e.g. a time zone and the sites a person sees), each of one day.
    `fresh_s`: shown as it is; up to `stale_s`: shown while the next is read in the background;
    older: waited for. `worth_keeping(value)`: whether a figure is kept at all."""

    def __init__(self, fresh_s: float, stale_s: float = math.inf,
                 worth_keeping: Callable[[T], bool] = lambda _: True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.fresh_s, self.stale_s, self.worth_keeping = fresh_s, stale_s, worth_keeping
        self.clock = clock
        self._kept: dict[Hashable, _Figure[T]] = {}
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._refreshing: dict[Hashable, asyncio.Task[None]] = {}

    async def get(self, key: Hashable, day: str, read: Callable[[], Awaitable[T]]) -> T:
        kept = self._usable(key, day)
        if kept is not None:
            age = self.clock() - kept.at
            if age > self.fresh_s and key not in self._refreshing:
                self._refreshing[key] = asyncio.create_task(self._refresh(key, day, read))
            return kept.value
        async with self._lock(key):  # one read at a time; the others wait for its figure
            kept = self._usable(key, day)
            if kept is not None and self.clock() - kept.at <= self.fresh_s:
                return kept.value
            return await self._read(key, day, read)

    def refreshing(self, key: Hashable) -> asyncio.Task[None] | None:
        """The background read of this key's next figure, while there is one."""
        return self._refreshing.get(key)

    def _usable(self, key: Hashable, day: str) -> _Figure[T] | None:
        kept = self._kept.get(key)
        if kept is None or kept.day != day or self.clock() - kept.at > self.stale_s:
            return None
        return kept

    def _lock(self, key: Hashable) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def _read(self, key: Hashable, day: str, read: Callable[[], Awaitable[T]]) -> T:
        at = self.clock()
        value = await read()
        if self.worth_keeping(value):
            self._kept[key] = _Figure(at, day, value)
        else:
            self._kept.pop(key, None)
        return value

    async def _refresh(self, key: Hashable, day: str, read: Callable[[], Awaitable[T]]
                       ) -> None:
        try:
            async with self._lock(key):
                await self._read(key, day, read)
        except Exception:  # the next load tries again; the page shows the last figure
            log.warning("a kept figure (%s) was not worked out", key, exc_info=True)
        finally:
            self._refreshing.pop(key, None)
