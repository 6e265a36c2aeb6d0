"""The card desk without a reader: lookups of known, blocked and unknown cards; what "learn from
a charger" offers and applies."""

from __future__ import annotations

import json

from aiohttp.test_utils import TestServer

from appliance.rfid_reader.uid import ByteOrder, Encoding, UidForm
from appliance.web.admin.desk import candidates
from tests.conftest import Api
from tests.money_fixtures import driver_with_card
from tests.staff_client import staff_client


async def test_lookups(server: TestServer, api: Api) -> None:
    driver = await driver_with_card(api, "CAFE0001", balance=0)
    await api.post("/cards", {"id_tag": "LOOSE001"})
    await api.post("/cards", {"id_tag": "BAD00001", "status": "Blocked", "note": "reported stolen"})
    async with staff_client(server, role="desk") as desk:
        status, _ = await desk.get("/desk?id_tag=cafe0001")
        assert status == 303
        status, html = await desk.get("/desk?id_tag=NEW00001")
        assert 'data-state="unknown"' in html and "/drivers/new?id_tag=NEW00001" in html
        _, html = await desk.get("/desk?id_tag=LOOSE001")
        assert 'data-state="unbound"' in html
        _, html = await desk.get("/desk?id_tag=BAD00001")
        assert 'data-state="blocked"' in html and "reported stolen" in html
        _, html = await desk.get("/desk?id_tag=NEW00001&q=Asha")
        assert f'/drivers/{driver["id"]}/cards' in html


def test_learn_offers_the_form_the_charger_used() -> None:
    reads = [{"uid": "04A1B2C3", "reader": "r", "id_tag": "04A1B2C3"}]
    unknown = [{"id_tag": "C3B2A104", "source": "charger", "station_id": "CP-1"},
               {"id_tag": "0077771234", "source": "charger", "station_id": "CP-2"}]
    pairs = candidates(reads, unknown)
    assert pairs[0]["sent"] == "C3B2A104"
    assert pairs[0]["form"] == UidForm(byte_order=ByteOrder.REVERSED)
    assert all(p["sent"] != "0077771234" for p in pairs)
    decimal = candidates(reads, [{"id_tag": str(int("04A1B2C3", 16)).zfill(10),
                                  "source": "charger", "station_id": "CP-3"}])
    assert decimal[0]["form"].encoding == Encoding.DEC10
    assert json.loads(decimal[0]["value"])["encoding"] == "dec10"


async def test_learn_applies_a_form(server: TestServer) -> None:
    async with staff_client(server) as admin:
        value = json.dumps({"encoding": "hex", "case": "upper", "byte_order": "reversed",
                            "prefix": "", "suffix": ""})
        status, html = await admin.post("/desk/learn", {"form": value}, from_page="/desk/learn")
        assert status == 200 and "reversed" in html
        _, html = await admin.get("/desk/learn")
        assert "hex, upper, reversed" in html.split('id="current-form"')[1][:60]


async def test_desk_refuses_garbage_forms(server: TestServer) -> None:
    async with staff_client(server) as admin:
        status, _ = await admin.post("/desk/learn", {"form": "{\"encoding\": \"roman\"}"},
                                     from_page="/desk/learn")
        assert status == 400


