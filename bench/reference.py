#!/usr/bin/env python3
"""The yardsticks bench/load.py measures the appliance against, on the same machine, in the same
run, with the same simulated chargers:

  reference  a bare OCPP 1.6 central system written the way the `ocpp` library's own example
             (examples/v16/central_system.py) is (for a charger that asks for ocpp2.0.1, the
             same after examples/v201/central_system.py): a `ChargePoint` subclass with thin
             `@on` handlers returning `call_result` dataclasses, the library's default schema
             validation (jsonschema, in its thread pool), no database, no auth, no frame log.
             Served over aiohttp (the appliance's own web server, through the ~10-line
             recv/send adapter the library needs), so the difference is all above the socket;
             on uvloop, as the appliance (`--loop asyncio`: the example as written).
  echo       the raw aiohttp WebSocket ceiling: every CALL is answered with one canned
             CALLRESULT built by slicing out the unique id; no JSON parsing at all.

Run by bench/load.py (`python bench/reference.py --mode reference --port N`); not a product.
"""

from __future__ import annotations

import argparse
import itertools
import logging
from datetime import UTC, datetime

from aiohttp import WSMsgType, web
from ocpp.routing import on
from ocpp.v16 import ChargePoint as LibraryChargePoint
from ocpp.v16 import call_result
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus
from ocpp.v201 import ChargePoint as LibraryChargePoint201
from ocpp.v201 import call_result as call_result201

TX_IDS = itertools.count(1)


def now() -> str:
    return datetime.now(UTC).isoformat()


class ReferenceChargePoint(LibraryChargePoint):
    """The library example's central system, with the handlers a bench charger needs."""

    @on(Action.boot_notification)
    def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str,
                             **kwargs: object) -> call_result.BootNotification:
        return call_result.BootNotification(current_time=now(), interval=300,
                                            status=RegistrationStatus.accepted)

    @on(Action.heartbeat)
    def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=now())

    @on(Action.status_notification)
    def on_status_notification(self, **kwargs: object) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on(Action.meter_values)
    def on_meter_values(self, **kwargs: object) -> call_result.MeterValues:
        return call_result.MeterValues()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str) -> call_result.Authorize:
        return call_result.Authorize(id_tag_info={"status": AuthorizationStatus.accepted})

    @on(Action.start_transaction)
    def on_start_transaction(self, **kwargs: object) -> call_result.StartTransaction:
        return call_result.StartTransaction(transaction_id=next(TX_IDS),
                                            id_tag_info={"status": AuthorizationStatus.accepted})

    @on(Action.stop_transaction)
    def on_stop_transaction(self, **kwargs: object) -> call_result.StopTransaction:
        return call_result.StopTransaction()


class ReferenceChargePoint201(LibraryChargePoint201):
    """The library's 2.0.1 example central system (examples/v201/central_system.py), with the
    handlers a bench 2.0.1 charger needs: the bare 2.0.1 reference."""

    @on("BootNotification")
    def on_boot_notification(self, charging_station: object, reason: str,
                             **kwargs: object) -> call_result201.BootNotification:
        return call_result201.BootNotification(current_time=now(), interval=300,
                                               status="Accepted")

    @on("Heartbeat")
    def on_heartbeat(self) -> call_result201.Heartbeat:
        return call_result201.Heartbeat(current_time=now())

    @on("StatusNotification")
    def on_status_notification(self, **kwargs: object) -> call_result201.StatusNotification:
        return call_result201.StatusNotification()

    @on("MeterValues")
    def on_meter_values(self, **kwargs: object) -> call_result201.MeterValues:
        return call_result201.MeterValues()

    @on("Authorize")
    def on_authorize(self, id_token: object, **kwargs: object) -> call_result201.Authorize:
        return call_result201.Authorize(id_token_info={"status": "Accepted"})

    @on("TransactionEvent")
    def on_transaction_event(self, id_token: object = None, **kwargs: object
                             ) -> call_result201.TransactionEvent:
        return call_result201.TransactionEvent(
            id_token_info={"status": "Accepted"} if id_token is not None else None)


class Adapter:
    """What the library needs of a connection: `recv()` and `send()`."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    async def recv(self) -> str:
        while True:
            msg = await self.ws.receive()
            if msg.type == WSMsgType.TEXT:
                return str(msg.data)
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                            WSMsgType.ERROR):
                raise ConnectionError("closed")

    async def send(self, message: str) -> None:
        await self.ws.send_str(message)


async def reference_handler(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=("ocpp2.0.1", "ocpp1.6"))
    await ws.prepare(request)
    kind = ReferenceChargePoint201 if ws.ws_protocol == "ocpp2.0.1" else ReferenceChargePoint
    cp = kind(request.match_info["cpid"], Adapter(ws))
    try:
        await cp.start()
    except ConnectionError:
        pass
    return ws


# One answer that satisfies every check the bench charger makes, whatever it asked.
CANNED = ('",{"status":"Accepted","currentTime":"2026-01-01T00:00:00.000Z","interval":300,'
          '"transactionId":1,"idTagInfo":{"status":"Accepted"},'
          '"idTokenInfo":{"status":"Accepted"}}]')


async def echo_handler(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=("ocpp2.0.1", "ocpp1.6"))
    await ws.prepare(request)
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            break
        data: str = msg.data
        # `[2,"<id>",...`: the id runs from index 4 to the next quote.
        await ws.send_str('[3,"' + data[4:data.index('"', 4)] + CANNED)
    return ws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("reference", "echo"), default="reference")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--backlog", type=int, default=128,
                        help="listen backlog (aiohttp's default, as the appliance has)")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop",
                        help="event loop: uvloop, as the appliance serves (the one line any "
                        "deployer adds), or asyncio's own (the library example as written)")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        uvloop.install()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("ocpp").setLevel(logging.WARNING)  # the example logs every frame at INFO
    app = web.Application()
    handler = reference_handler if args.mode == "reference" else echo_handler
    app.router.add_get("/ocpp/{cpid}", handler)
    web.run_app(app, host=args.host, port=args.port, backlog=args.backlog, print=None,
                access_log=None, shutdown_timeout=2)


if __name__ == "__main__":
    main()
