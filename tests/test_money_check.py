"""The ledger check (`appliance check`, and every nightly report) compares each account's cached
balance and held amount with the sums of its ledger rows: in one statement for all accounts
(one per account took 8 s of a reader's CPU at 50,000 accounts), and still naming each account
that disagrees."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.billing import accounts
from appliance.billing.check import _check
from appliance.db.models import Account


def _drivers(n: int, first: int) -> list[int]:
    made = []
    for i in range(first, first + n):
        driver = accounts.create_driver({"name": f"Check {i}", "phone": f"+91 91111 {i:05d}"},
                                        "INR")
        accounts.topup(driver["id"], 1000 + i, "cash", "", f"topup:check-{i}", "test", "")
        made.append(int(driver["id"]))
    return made


def _counted(fn: Any) -> tuple[Any, int]:
    db = Account._meta.database
    plain, count = db.execute_sql, [0]

    def counting(*args: Any, **kw: Any) -> Any:
        count[0] += 1
        return plain(*args, **kw)

    db.execute_sql = counting
    try:
        return fn(), count[0]
    finally:
        db.execute_sql = plain


def _tamper(account_driver: int) -> int:
    account = Account.get(Account.driver == account_driver)
    Account.update(balance=Account.balance + 7).where(Account.id == account.id).execute()
    return int(account.id)


async def test_the_ledger_check_reads_every_account_in_a_few_statements(
        server: TestServer) -> None:
    database = server.app[keys.DATABASE]
    await database.run(_drivers, 3, 0)
    lines, few = await database.read(_counted, _check)
    assert lines[0] == (True, "ledger: 3 accounts, 0 disagree"), lines
    made = await database.run(_drivers, 30, 3)
    lines, many = await database.read(_counted, _check)
    assert lines[0] == (True, "ledger: 33 accounts, 0 disagree"), lines
    assert many == few, (few, many)  # not a statement per account
    bad = await database.run(_tamper, made[5])
    lines, _ = await database.read(_counted, _check)
    assert lines[0] == (False, "ledger: 33 accounts, 1 disagree"), lines
    assert lines[1] == (False, f"account {bad}: cached {1000 + 8 + 7}/0, ledger {1000 + 8}/0")
