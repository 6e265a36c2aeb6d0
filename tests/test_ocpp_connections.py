"""Who may connect: ids, credentials, subprotocols, unknown stations, a second connection."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from appliance import keys
from tests.charger import ws_url
from tests.conftest import Api, add_station, basic_auth, eventually


async def _upgrade_status(server: TestServer, cpid: str, headers: dict[str, str] | None = None,
                          protocols: tuple[str, ...] = ("ocpp1.6",)) -> int:
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(ws_url(server, cpid), protocols=protocols,
                                          headers=headers or {}):
                return 101
        except aiohttp.WSServerHandshakeError as err:
            return err.status


async def test_refused_before_the_upgrade(server: TestServer, api: Api) -> None:
    await add_station(api, "GATE-1", "right-password")
    good = {"Authorization": basic_auth("GATE-1", "right-password")}
    assert await _upgrade_status(server, "GATE-1", good) == 101
    assert await _upgrade_status(server, "GATE-1") == 401
    assert await _upgrade_status(server, "GATE-1",
                                 {"Authorization": basic_auth("GATE-1", "wrong-password")}) == 401
    assert await _upgrade_status(server, "GATE-1",
                                 {"Authorization": basic_auth("OTHER", "right-password")}) == 401
    assert await _upgrade_status(server, "gate-1", good) == 404  # differs only by case
    assert await _upgrade_status(server, "bad:id", good) == 404
    assert await _upgrade_status(server, "x" * 49, good) == 404
    assert await _upgrade_status(server, "GATE-1", good, protocols=("ocpp2.1",)) == 400
    assert await _upgrade_status(server, "GATE-1", good, protocols=()) == 400
    await api.patch("/stations/GATE-1", {"allow_no_subprotocol": True})
    assert await _upgrade_status(server, "GATE-1", good, protocols=()) == 101


async def test_failed_logins_are_rate_limited(server: TestServer, api: Api) -> None:
    await add_station(api, "GATE-2", "right-password")
    wrong = {"Authorization": basic_auth("GATE-2", "wrong-password")}
    statuses = [await _upgrade_status(server, "GATE-2", wrong) for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    good = {"Authorization": basic_auth("GATE-2", "right-password")}
    # The right key always gets in: a stranger's guesses must not lock the real charger out.
    assert await _upgrade_status(server, "GATE-2", good) == 101


async def test_unknown_station_pending_then_approved(server: TestServer, api: Api,
                                                     charger: Any) -> None:
    async with charger("NEW-1") as cp:
        boot = await cp.boot()
        assert boot.status == "Pending" and boot.interval == 60
        pending = (await api.get("/stations?approved=false"))["items"]
        assert [s["id"] for s in pending] == ["NEW-1"]
        approved = await api.patch("/stations/NEW-1", {"approved": True})
        # Approval gives the charger a key and asks it to boot again.
        assert approved["commands"][0] == "ChangeConfiguration AuthorizationKey: Accepted"
        assert cp.received[-1] == ("TriggerMessage", {"requested_message": "BootNotification"})
        key = cp.configuration["AuthorizationKey"]
        assert len(key) == 40
        assert (await cp.boot()).status == "Accepted"
    assert await _upgrade_status(server, "NEW-1") == 401
    assert await _upgrade_status(server, "NEW-1", {"Authorization": basic_auth("NEW-1",
                                                                               key)}) == 101


@pytest.mark.parametrize("policy, expected", [("reject", 404), ("accept", 101)])
async def test_unknown_station_policies(start_app: Any, make_settings: Any, policy: str,
                                        expected: int) -> None:
    server = await start_app(make_settings(unknown_station_policy=policy))
    assert await _upgrade_status(server, "STRANGER") == expected


async def test_second_connection_replaces_the_first(server: TestServer, api: Api,
                                                    charger: Any) -> None:
    await add_station(api, "TWICE")
    hub = server.app[keys.HUB]
    async with charger("TWICE", "secret-pass-1") as first:
        await first.boot()
        async with charger("TWICE", "secret-pass-1") as second:
            await eventually(lambda: _closed(first))
            assert (await second.boot()).status == "Accepted"
            assert hub.get("TWICE") is not None
            assert await api.post("/stations/TWICE/ocpp/Reset", {"type": "Soft"}, expect=200)
            assert second.received[-1][0] == "Reset" and not first.received
        await eventually(lambda: _offline(api, "TWICE"))


async def _closed(cp: Any) -> bool:
    return bool(cp._connection.ws.closed)


async def _offline(api: Api, cpid: str) -> bool:
    return not (await api.get(f"/stations/{cpid}"))["online"]


async def test_sigterm_closes_chargers_with_going_away(server: TestServer, api: Api,
                                                       charger: Any) -> None:
    await add_station(api, "BYE")
    async with charger("BYE", "secret-pass-1") as cp:
        await cp.boot()
        await server.app[keys.HUB].close_all()
        await eventually(lambda: _closed(cp))
        assert cp._connection.ws.close_code == 1001
        await asyncio.sleep(0)


async def test_key_rotation_keeps_the_old_key_until_the_new_one_is_used(
        server: TestServer, api: Api, charger: Any) -> None:
    await add_station(api, "ROT-1", "first-password")
    async with charger("ROT-1", "first-password") as cp:
        await cp.boot()
        assert await api.post("/stations/ROT-1/rotate-key", {}, expect=200) == {
            "status": "Accepted"}
        new_key = cp.configuration["AuthorizationKey"]
        assert len(new_key) == 40
    old = {"Authorization": basic_auth("ROT-1", "first-password")}
    assert await _upgrade_status(server, "ROT-1", old) == 101  # not yet logged in with the new
    import base64

    raw = base64.b64encode(b"ROT-1:" + bytes.fromhex(new_key)).decode()  # the bytes themselves
    assert await _upgrade_status(server, "ROT-1", {"Authorization": f"Basic {raw}"}) == 101
    assert await _upgrade_status(server, "ROT-1", old) == 401  # the new key was used: old gone
    assert await _upgrade_status(server, "ROT-1",
                                 {"Authorization": basic_auth("ROT-1", new_key)}) == 101
    status, body = await api.request("POST", "/stations/ROT-1/ocpp/ChangeConfiguration",
                                     {"key": "AuthorizationKey", "value": "00" * 20})
    assert status == 400 and "rotate-key" in body["error"]["message"]


async def test_a_refused_key_leaves_the_old_one(server: TestServer, api: Api,
                                                charger: Any) -> None:
    from ocpp.v16 import call_result
    from ocpp.v16.enums import Action

    await add_station(api, "ROT-2", "first-password")
    async with charger("ROT-2", "first-password") as cp:
        await cp.boot()

        async def refuse(**kw: Any) -> call_result.ChangeConfiguration:
            return call_result.ChangeConfiguration(status="Rejected")

        cp.route_map[Action.change_configuration]["_on_action"] = refuse
        assert (await api.post("/stations/ROT-2/rotate-key", {}, expect=200))["status"] == (
            "Rejected")
    assert await _upgrade_status(server, "ROT-2", {"Authorization": basic_auth(
        "ROT-2", "first-password")}) == 101
