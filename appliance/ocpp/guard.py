"""What one client may cost the box: open connections of unapproved stations (per source
address and in total), and a charger's message budget (a token bucket: past it, a charger waits;
held at it for long, it is disconnected), so a stranger or a flooding charger cannot slow the
others."""

from __future__ import annotations

import time
from collections.abc import Callable


class PendingGate:
    """Open connections of stations that are not approved (unknown ids admitted as pending, and
    pending ones): at most `per_address` from one source address and `total` in all. Nothing
    such a connection does is honoured, so the only reason to hold many is to exhaust us."""

    def __init__(self, per_address: int, total: int) -> None:
        self.per_address = per_address
        self.total = total
        self._open: dict[str, int] = {}
        self._count = 0

    def admit(self, address: str) -> str | None:
        """Count one more connection from `address`; or say why not (and count nothing)."""
        if self._count >= self.total:
            return "too many connections of unapproved stations"
        if self._open.get(address, 0) >= self.per_address:
            return "too many connections of unapproved stations from this address"
        self._open[address] = self._open.get(address, 0) + 1
        self._count += 1
        return None

    def release(self, address: str) -> None:
        left = self._open.get(address, 0) - 1
        if left > 0:
            self._open[address] = left
        else:
            self._open.pop(address, None)
        self._count = max(0, self._count - 1)

    @property
    def count(self) -> int:
        return self._count


class MessageBudget:
    """One connection's budget of messages: `rate` a second on average, `burst` at once. Past
    it, `take()` says how long to wait before handling the message (reading nothing meanwhile,
    so the charger's socket fills and it slows down); once a charger has been held at its rate
    for `limit_s` seconds without its budget ever filling up again, `exhausted` is true."""

    __slots__ = ("rate", "burst", "limit_s", "_clock", "tokens", "_last", "throttled_s")

    def __init__(self, rate: float, burst: int, limit_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.limit_s = rate, float(burst), limit_s
        self._clock = clock
        self.tokens = float(burst)
        self._last = clock()
        self.throttled_s = 0.0

    def take(self) -> float:
        """Spend one message; the seconds to wait before handling it (0.0: within budget)."""
        now = self._clock()
        self.tokens = min(self.burst, self.tokens + (now - self._last) * self.rate)
        self._last = now
        if self.tokens >= self.burst:
            self.throttled_s = 0.0  # it paused long enough to earn its whole burst back
        self.tokens -= 1.0
        if self.tokens >= 0.0:
            return 0.0
        wait = -self.tokens / self.rate
        self.throttled_s += wait
        return wait

    @property
    def exhausted(self) -> bool:
        return self.throttled_s > self.limit_s

    @property
    def busy(self) -> bool:
        """It has used up more than half its burst: let the other connections have a turn."""
        return self.tokens < self.burst / 2
