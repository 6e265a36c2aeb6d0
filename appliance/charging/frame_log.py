"""The frame log: every OCPP frame in and out, as one row per station and flush (a JSON list),
trimmed to the newest frames a station keeps."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from appliance.db import fastsql
from appliance.db.models import FrameLog

_CHUNK_FIELDS = (FrameLog.station, FrameLog.at, FrameLog.count, FrameLog.frames)
TRIM_CHUNK = 256  # stations per trim statement
Chunk = tuple[int, datetime, int, str]  # station, newest frame's time, frames, JSON list


_second: tuple[int, str] = (-1, "")  # the last whole second stamped, formatted


def frame_time() -> str:
    """Now, in UTC, as `utcnow().isoformat()` writes it with microseconds: the moment a frame is
    logged (two for every message). Making and formatting a datetime cost some 3-5 us a frame,
    most of the frame log's time on the event loop; here the date and second are formatted
    once a second, the microseconds appended (about 1 us)."""
    global _second
    second, rest = divmod(time.time_ns(), 1_000_000_000)
    if second != _second[0]:
        _second = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S."))
    return _second[1] + str(1_000_000 + rest // 1000)[1:]


def _trim_sql(p: str, n: int) -> str:
    """Delete, of the stations listed, every row whose newer rows already hold `keep` frames."""
    t, sid, rid, count = (fastsql.table(FrameLog), fastsql.col(FrameLog.station),
                          fastsql.col(FrameLog.id), fastsql.col(FrameLog.count))
    newer = f"SUM({count}) OVER (PARTITION BY {sid} ORDER BY {rid} DESC) - {count}"
    return (f"DELETE FROM {t} WHERE {rid} IN (SELECT {rid} FROM (SELECT {rid}, {newer} AS newer "
            f"FROM {t} WHERE {sid} IN ({', '.join([p] * n)})) AS ranked WHERE newer >= {p})")


def write_frames(chunks: list[Chunk], keep: int, trim: set[int]) -> None:
    """Append one row per station; trim to the newest rows holding `keep` frames only the
    stations in `trim` (those that logged about `keep` / 2 frames since their last trim), so a
    station holds at most about 1.5 x `keep` frames and a flush costs a statement or two."""
    fastsql.insert_rows(FrameLog, _CHUNK_FIELDS, chunks)
    stations = sorted(trim)
    for i in range(0, len(stations), TRIM_CHUNK):
        part = stations[i:i + TRIM_CHUNK]
        n = fastsql.bucket(len(part))  # padded with the last again: a few texts serve all
        fastsql.execute(fastsql.sql(f"frames:trim:{n}", lambda p, n=n: _trim_sql(p, n)),
                       [*part, *[part[-1]] * (n - len(part)), keep])
