"""The schema the numbered migrations build is the one the models describe: the same columns
and the same indexes (a migration edited by hand, or a model changed without one, fails here
before it reaches a box)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appliance.app import open_database
from appliance.config import load_settings
from appliance.db.engines import SqliteDatabase
from appliance.db.schema import ALL_MODELS

pytestmark = pytest.mark.sqlite_only("compares SQLite's own description of the two schemas")


def _describe(db: Any) -> dict[str, Any]:
    out = {}
    for (table,) in db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'table' AND "
                                   "name NOT LIKE 'sqlite_%' AND name != 'schema_migration'"):
        columns = sorted((c[1], c[2].upper(), c[3], c[5])
                         for c in db.execute_sql(f'PRAGMA table_info("{table}")'))
        indexes = set()
        for _, name, unique, origin, partial in db.execute_sql(f'PRAGMA index_list("{table}")'):
            if origin == "pk":
                continue
            cols = tuple(r[2] for r in db.execute_sql(f'PRAGMA index_info("{name}")'))
            indexes.add((cols, unique, partial))
        foreign = sorted(tuple(f[2:5]) + (f[6],)
                         for f in db.execute_sql(f'PRAGMA foreign_key_list("{table}")'))
        out[table] = {"columns": columns, "indexes": indexes, "foreign_keys": foreign}
    return out


def test_migrations_build_what_the_models_describe(tmp_path: Path) -> None:
    settings = load_settings(environ={}, overrides={"data_dir": str(tmp_path / "data")})
    migrated = open_database(settings).db
    migrated.connect(reuse_if_open=True)
    fresh = SqliteDatabase(str(tmp_path / "models.db"))
    with fresh.bind_ctx(ALL_MODELS):
        fresh.create_tables(ALL_MODELS)
        expected = _describe(fresh)
    actual = _describe(migrated)
    assert sorted(actual) == sorted(expected)
    for table in expected:
        assert actual[table] == expected[table], table


def test_query_plans_of_the_hot_look_ups(tmp_path: Path) -> None:
    """The look-ups every StartTransaction and the dashboard make use the index meant for them
    (SQLite plans without statistics: an index on (state, started_at) once drew the start's
    look-up of older open sessions on its connector to a scan of every running session)."""
    settings = load_settings(environ={}, overrides={"data_dir": str(tmp_path / "data")})
    db = open_database(settings).db
    db.connect(reuse_if_open=True)

    def plan(sql: str) -> str:
        return " | ".join(str(row[-1]) for row in db.execute_sql("EXPLAIN QUERY PLAN " + sql))

    older_open = plan(  # charging.superseding.open_on
        "SELECT id FROM charging_session WHERE station_id IN (5) AND connector_id = 1 AND "
        "state IN ('active', 'suspect') AND id <> 7 AND started_at <= '2026-12-06 03:00:00'")
    assert "charging_session_station_id_connector_id_state" in older_open, older_open
    active_on = plan(  # the open session on a connector
        "SELECT id FROM charging_session WHERE station_id = 5 AND connector_id = 1 AND "
        "state = 'active' AND started_at <= '2026-12-06 03:00:00'")
    assert "charging_session_station_id_connector_id_state" in active_on, active_on
    newest = plan(  # reports.overview.charging_now, every site and one
        "SELECT id FROM charging_session WHERE state = 'active' "
        "ORDER BY started_at DESC, id DESC LIMIT 20")
    assert "charging_session_active_started_at" in newest and "TEMP B-TREE" not in newest
    one_site = plan(
        "SELECT id FROM charging_session WHERE state = 'active' AND station_id + 0 IN "
        "(SELECT id FROM station WHERE site_id IN (1)) ORDER BY started_at DESC, id DESC "
        "LIMIT 20")
    assert "charging_session_active_started_at" in one_site and "TEMP B-TREE" not in one_site
