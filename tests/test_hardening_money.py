"""Issue 15, money and data: amounts are bounded where they enter and in the database, `check`
and reports survive any stored row, a relative data dir is the working directory's, and every
table that grows with traffic has its bound."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from appliance import cli, keys
from appliance.app import open_database
from appliance.config import load_settings
from appliance.db.models import Account
from tests.conftest import Api
from tests.money_fixtures import account, driver_with_card

BIG = 2**63


async def test_top_ups_outside_the_safe_range_are_refused(server: TestServer, api: Api) -> None:
    driver = await driver_with_card(api, "TOPUP1")
    path = f"/drivers/{driver['id']}/topups"
    for amount in (10**18, BIG, BIG * 4, -1, 0):
        status, body = await api.request("POST", path, {"amount": amount, "method": "cash"})
        assert status == 400, (amount, status, body)
    # Large adjustments (top-ups have a smaller cap of the site's): the one that would carry
    # the balance out of the safe range is refused.
    statuses = []
    for i in range(3):
        status, _ = await api.request("POST", f"/drivers/{driver['id']}/adjustments",
                                      {"amount": 2**52, "reason": f"test {i}"})
        statuses.append(status)
    assert statuses == [201, 400, 400]
    status, _ = await api.request("POST", f"/drivers/{driver['id']}/adjustments",
                                  {"amount": -BIG, "reason": "test"})
    assert status == 400
    balance = (await account(api, driver["id"]))["balance"]
    assert isinstance(balance, int) and balance <= 2**53


async def test_the_database_keeps_money_whole_and_in_range(server: TestServer, api: Api
                                                           ) -> None:
    driver = await driver_with_card(api, "TOPUP2", balance=500)
    database = server.app[keys.DATABASE]
    account_id = await database.read(lambda: Account.get(Account.driver == driver["id"]).id)
    sqlite = server.app[keys.SETTINGS].db_url.startswith("sqlite")
    # Raw SQL: peewee would round 1.5 to 1 on its way in; what matters is what the database
    # itself lets through (PostgreSQL's BIGINT keeps money whole by its type).
    for bad in (1.5, 1.1e19, 2**62 + 1) if sqlite else (1.1e19, 2**62 + 1):
        def write(value: Any = bad) -> None:
            db, p = Account._meta.database, Account._meta.database.param
            db.execute_sql(f"UPDATE account SET balance = {p} WHERE id = {p}",
                           (value, account_id))

        def insert(value: Any = bad) -> None:
            db, p = Account._meta.database, Account._meta.database.param
            db.execute_sql("INSERT INTO ledger_entry (account_id, amount, kind, reference, actor,"
                           f" method, receipt_no, note, created_at) VALUES ({p}, {p}, "
                           f"'adjustment', {p}, '', '', '', '', {p})",
                           (account_id, value, f"bad:{value!r}", "2026-01-01 00:00:00"))

        for attempt in (write, insert):
            with pytest.raises(Exception):  # noqa: B017 - each backend says it its own way
                await database.run(attempt)
    assert (await account(api, driver["id"]))["balance"] == 500


@pytest.mark.sqlite_only("old rows of a SQLite box from before the bounds")
def test_check_and_report_survive_any_stored_row(tmp_path: Path, capsys: Any) -> None:
    data = tmp_path / "data"
    settings = load_settings(environ={}, overrides={"data_dir": str(data)})
    database = open_database(settings)
    db = database.db
    db.connect(reuse_if_open=True)
    # A box upgraded from before the bounds may hold what they now refuse.
    for (name,) in db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'"
                                  " AND name LIKE 'money_%'").fetchall():
        db.execute_sql(f'DROP TRIGGER "{name}"')
    db.execute_sql("INSERT INTO driver (name, phone, phone_key, email, note, language, group_tag,"
                   " blocked, price_group, created_at) VALUES ('x', '', '', '', '', '', 'G1', 0,"
                   " '', '2026-01-01')")
    db.execute_sql("INSERT INTO account (driver_id, currency, balance, held, updated_at) "
                   "VALUES (1, 'INR', 1.1e19, 0, '2026-01-01')")
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    for i in range(11):
        db.execute_sql("INSERT INTO ledger_entry (account_id, amount, kind, reference, actor, "
                       "method, receipt_no, note, created_at) VALUES (1, ?, 'topup', ?, '', "
                       "'cash', '', '', ?)", (10**18, f"topup:old:{i}", yesterday + " 12:00"))
    db.close()
    assert cli.main(["check", "--data-dir", str(data)]) == 1  # disagreement said, no crash
    out = capsys.readouterr().out
    assert "account 1" in out
    # The report is made, and says the ledger disagrees.
    assert cli.main(["report", "--data-dir", str(data), "--date", yesterday, "--no-mail"]) == 1
    assert "ledger DISAGREES" in capsys.readouterr().out


@contextlib.contextmanager
def _cwd(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def test_relative_data_dir_is_the_working_directorys(tmp_path: Path, capsys: Any) -> None:
    with _cwd(tmp_path):
        settings = load_settings(environ={}, overrides={"data_dir": "data"})
        assert settings.data_path == tmp_path / "data"
        assert settings.db_url == f"sqlite:///{tmp_path / 'data' / 'appliance.db'}"
        assert cli.main(["token", "create", "--name", "t1", "--data-dir", "data"]) == 0
    capsys.readouterr()
    assert (tmp_path / "data" / "appliance.db").exists()


async def test_money_sums_never_crash_the_api(server: TestServer, api: Api) -> None:
    driver = await driver_with_card(api, "TOPUP3", balance=100)
    status, _ = await api.request("POST", f"/drivers/{driver['id']}/topups",
                                  {"amount": 2**53, "method": "cash"})
    assert status == 400
    await asyncio.sleep(0)
