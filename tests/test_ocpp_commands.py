"""The raw command endpoint: the charger's answer, or 409/502/504/400."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from ocpp.exceptions import GenericError

from tests.charger import connect_charger
from tests.conftest import Api, add_station, make_token


async def test_commands_reach_the_charger(api: Api, charger: Any) -> None:
    await add_station(api, "CMD-1")
    async with charger("CMD-1", "secret-pass-1") as cp:
        await cp.boot()
        answer = await api.post("/stations/CMD-1/ocpp/RemoteStartTransaction",
                                {"connectorId": 1, "idTag": "TAG1"}, expect=200)
        assert answer == {"status": "Accepted"}
        assert cp.received[-1] == ("RemoteStartTransaction", {"connector_id": 1,
                                                              "id_tag": "TAG1"})
        assert await api.post("/stations/CMD-1/ocpp/Reset", {"type": "Soft"},
                              expect=200) == {"status": "Accepted"}
        config = await api.post("/stations/CMD-1/ocpp/GetConfiguration",
                                {"key": ["HeartbeatInterval", "Nope"]}, expect=200)
        assert config["configurationKey"] == [{"key": "HeartbeatInterval", "readonly": False,
                                               "value": "300"}]
        assert config["unknownKey"] == ["Nope"]
        changed = await api.post("/stations/CMD-1/ocpp/ChangeConfiguration",
                                 {"key": "HeartbeatInterval", "value": "120"}, expect=200)
        assert changed == {"status": "Accepted"} and cp.configuration["HeartbeatInterval"] == "120"
        # A payload that fails the schema never leaves the box.
        before = len(cp.received)
        status, body = await api.request("POST", "/stations/CMD-1/ocpp/Reset", {"type": "Now"})
        assert status == 400 and body["error"]["code"] == "invalid_ocpp_payload"
        status, body = await api.request("POST", "/stations/CMD-1/ocpp/Teleport", {})
        assert status == 400
        assert len(cp.received) == before
        # The charger answers with a CALLERROR.
        cp.fail_with = GenericError(description="relay stuck")
        status, body = await api.request("POST", "/stations/CMD-1/ocpp/Reset", {"type": "Hard"})
        assert status == 502 and body["error"]["details"]["code"] == "GenericError"
        # The charger does not answer in time (call_timeout is 2 s in tests).
        cp.fail_with, cp.delay = None, 3.0
        status, body = await api.request("POST", "/stations/CMD-1/ocpp/Reset", {"type": "Hard"})
        assert status == 504 and body["error"]["code"] == "charger_timeout"
        await asyncio.sleep(1.2)  # let the late answer arrive; it is ignored
        cp.delay = 0
        assert await api.post("/stations/CMD-1/ocpp/Reset", {"type": "Soft"},
                              expect=200) == {"status": "Accepted"}
    status, body = await api.request("POST", "/stations/CMD-1/ocpp/Reset", {"type": "Soft"})
    assert status == 409 and body["error"]["code"] == "charger_offline"
    status, body = await api.request("POST", "/stations/NOPE/ocpp/Reset", {"type": "Soft"})
    assert status == 404


async def test_frames_are_kept_with_keys_redacted(api: Api, charger: Any) -> None:
    await add_station(api, "CMD-2")
    async with charger("CMD-2", "secret-pass-1") as cp:
        await cp.boot()
        cp.configuration["AuthorizationKey"] = "00112233445566778899aabbccddeeff"
        await api.post("/stations/CMD-2/ocpp/GetConfiguration", {"key": ["AuthorizationKey"]},
                       expect=200)
        await asyncio.sleep(0.8)  # the frame log is written in batches
    frames = (await api.get("/stations/CMD-2/messages"))["items"]
    assert any("BootNotification" in f["frame"] for f in frames)
    assert all("00112233445566778899aabbccddeeff" not in f["frame"] for f in frames)
    assert any('"value":"***"' in f["frame"] for f in frames)


async def test_frame_log_keeps_the_newest_frames_per_station(start_app: Any,
                                                            make_settings: Any) -> None:
    """The log is written a chunk per station and flush and trimmed to about `frame_log_size`
    frames: never fewer than that, the newest first, and never the whole history."""
    server = await start_app(make_settings(frame_log_size=10))
    async with aiohttp.ClientSession() as session:
        api = Api(session, str(server.make_url("")).rstrip("/"), await make_token(server))
        await add_station(api, "LOG-1")
        async with connect_charger(server, "LOG-1", "secret-pass-1") as cp:
            await cp.boot()
            for _ in range(6):  # six flushes of three status reports (six frames) each
                for connector in (1, 2, 1):
                    await cp.status(connector, "Available")
                await asyncio.sleep(0.6)
            await cp.status(2, "Faulted", "GroundFailure")
            await asyncio.sleep(0.8)
        frames = (await api.get("/stations/LOG-1/messages?limit=500"))["items"]
    assert 10 <= len(frames) <= 10 + 10 // 2 + 6  # keep + what came before the next trim
    assert frames[0]["direction"] == "out" and "GroundFailure" in frames[1]["frame"]
    assert not any("BootNotification" in f["frame"] for f in frames)
    assert [f["at"] for f in frames] == sorted((f["at"] for f in frames), reverse=True)
