"""Sharing a limit among sessions: a pure function (limits, sessions, phases -> allowed current
per session), property tested. Amperes per phase throughout.

The rules: sessions are admitted in order (commercial ones first when the group says so, then
the oldest first) as long as every admitted session can have at least the minimum on each phase
it draws from; the others wait at 0 A. The admitted share what is left equally (water filling:
a session that needs less than its share, or whose charger gives less, leaves the rest to the
others). A charger that refuses profiles is counted at its full power and is given nothing to
share. Allowed currents are rounded down to 0.1 A, so their sum never exceeds the limit."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PHASES = (0, 1, 2)
HEADROOM_A = 2.0  # a session drawing less than it may gets this much above its draw
EPSILON = 1e-9


@dataclass(frozen=True)
class Limits:
    limit_a: float  # per phase
    min_a: float = 6.0
    commercial_first: bool = False


@dataclass(frozen=True)
class Demand:
    """One active session as load management sees it."""

    key: str
    order: int  # lower started earlier
    max_a: float = 32.0  # what its charger can give per phase
    phases: tuple[int, ...] = PHASES  # the phases it draws from (0-2)
    commercial: bool = False
    drawn_a: float | None = None  # the most it draws on any phase now, when reported
    refused: bool = False  # its charger refuses profiles: counts at max_a


def phases_of(currents: Sequence[float | None], threshold_a: float = 1.0) -> tuple[int, ...]:
    """The phases a session draws from, from per-phase currents (L1-L3) when reported."""
    found = tuple(i for i, c in enumerate(currents[:3]) if c is not None and c >= threshold_a)
    return found or PHASES


def cap_of(d: Demand, min_a: float) -> float:
    """The most a session can use: its charger's maximum, or a little above what it draws (a
    car that takes less leaves the rest to others; it gets more as its draw rises)."""
    if d.drawn_a is None:
        return d.max_a
    return max(min(d.max_a, d.drawn_a + HEADROOM_A), min(min_a, d.max_a))


def _floor(value: float) -> float:
    return math.floor(value * 10 + EPSILON) / 10


def _fill(keys: Iterable[str], caps: dict[str, float], phases: dict[str, tuple[int, ...]],
          room: list[float], given: dict[str, float]) -> None:
    """Water filling: raise every key's allowance equally until its cap or a full phase."""
    active = [k for k in keys if given[k] < caps[k] - EPSILON]
    while active:
        users = [sum(1 for k in active if p in phases[k]) for p in PHASES]
        step = min([caps[k] - given[k] for k in active]
                   + [room[p] / users[p] for p in PHASES if users[p]])
        step = max(step, 0.0)
        for k in active:
            given[k] += step
            for p in phases[k]:
                room[p] -= step
        full = {p for p in PHASES if users[p] and room[p] <= EPSILON}
        active = [k for k in active
                  if given[k] < caps[k] - EPSILON and not full.intersection(phases[k])]


def allocate(limits: Limits, demands: Sequence[Demand]) -> dict[str, float]:
    """key -> allowed amperes per phase (0: the session waits). Refusing chargers are not in
    the result's sharing: they get their max_a, which the others make room for."""
    room = [float(limits.limit_a)] * 3
    out: dict[str, float] = {}
    for d in demands:
        if d.refused:
            out[d.key] = d.max_a
            for p in d.phases:
                room[p] -= d.max_a
    ranked = sorted((d for d in demands if not d.refused),
                    key=lambda d: (not (limits.commercial_first and d.commercial), d.order))
    admitted: list[Demand] = []
    counts = [0, 0, 0]
    for d in ranked:
        if all((counts[p] + 1) * limits.min_a <= room[p] + EPSILON for p in d.phases):
            admitted.append(d)
            for p in d.phases:
                counts[p] += 1
        else:
            out[d.key] = 0.0
    caps = {d.key: cap_of(d, limits.min_a) for d in admitted}
    phases = {d.key: d.phases for d in admitted}
    given = dict.fromkeys(caps, 0.0)
    if limits.commercial_first:
        # Everyone admitted first gets the minimum, then commercial sessions fill up first.
        floor = {k: min(limits.min_a, caps[k]) for k in caps}
        _fill(caps, floor, phases, room, given)
        _fill([d.key for d in admitted if d.commercial], caps, phases, room, given)
    _fill(caps, caps, phases, room, given)
    out.update({k: _floor(v) for k, v in given.items()})
    return out


def used_a(demands: Sequence[Demand], allowed: dict[str, float]) -> list[float]:
    """What the allocation lets the sessions draw on each phase."""
    totals = [0.0, 0.0, 0.0]
    for d in demands:
        for p in d.phases:
            totals[p] += allowed.get(d.key, 0.0)
    return totals


def limit_from_kw(kw: float, voltage: float = 230.0, phases: int = 3) -> float:
    """A kW limit as amperes per phase."""
    return _floor(kw * 1000.0 / (voltage * max(1, phases)))
