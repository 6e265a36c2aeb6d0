"""The money-and-pages probe of bench/load.py's `money` scenario (issue 24, goal 3): while the
steady site runs, one more charger and two browsers (a driver's phone, the desk) do what people
do, and each is timed:

  QR start        the driver's start form POSTed -> RemoteStartTransaction at the charger
                  (the start page, loaded just before as a phone does, is not timed)
  desk top-up     POST /api/v1/drivers/{id}/topups answered
  pages           the dashboard (/) and the charger's page (/stations/{id}) answered
  live status     a StatusNotification sent -> its event on the dashboard's stream (/events)

The charger then starts and stops the session the QR start asked for, so every round is a
whole paid session. Run by bench/load.py; not a product."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import aiohttp

PIN = "135790"
PHONE = "+91 8000000001"
ADMIN_PASSWORD = "bench-admin-password"  # bench/load.py starts the appliance with it

END_MARGIN_S = 5.0
GOALS_MS = {"qr_start": ("p99", 100.0), "topup": ("p99", 50.0), "dashboard": ("p95", 150.0),
            "charger_page": ("p95", 150.0), "live_status": ("max", 1000.0)}


async def _csrf(session: aiohttp.ClientSession, url: str, path: str) -> str:
    async with session.get(url + path) as resp:
        await resp.read()
    for cookie in session.cookie_jar:
        if cookie.key == "appliance_csrf":
            return cookie.value
    raise SystemExit(f"money probe: no CSRF cookie from {path}")


async def _form(session: aiohttp.ClientSession, url: str, path: str, form: dict[str, str],
                expect: tuple[int, ...] = (303,)) -> float:
    t = time.perf_counter()
    async with session.post(url + path, data=form, allow_redirects=False) as resp:
        await resp.read()
        if resp.status not in expect:
            raise SystemExit(f"money probe: POST {path}: {resp.status}")
    return time.perf_counter() - t


class ProbeCharger:
    """The probe's own charger: answers RemoteStartTransaction and notes when it came."""

    def __init__(self, charger: Any) -> None:
        self.charger = charger
        self.starts: asyncio.Queue[tuple[float, str]] = asyncio.Queue()
        original = charger._answer_server_call

        async def answer(data: str) -> None:
            msg = json.loads(data)
            if msg[2] == "RemoteStartTransaction":
                await self.starts.put((time.perf_counter(), msg[3]["idTag"]))
                await charger.ws.send_str(json.dumps([3, msg[1], {"status": "Accepted"}]))
                return
            await original(data)

        charger._answer_server_call = answer


async def probe(url: str, token: str, cpid: str, charger: Any, start_at: float,
                duration: float) -> dict[str, Any]:
    """Set up (staff and driver logins, a driver with a PIN and a balance), wait for the
    steady run to start, then run rounds until it ends; the latencies in ms by kind."""
    api = {"Authorization": f"Bearer {token}"}
    jar_staff, jar_driver = aiohttp.CookieJar(unsafe=True), aiohttp.CookieJar(unsafe=True)
    out: dict[str, list[float]] = {k: [] for k in GOALS_MS}
    errors: list[str] = []
    async with aiohttp.ClientSession(cookie_jar=jar_staff) as staff, \
            aiohttp.ClientSession(cookie_jar=jar_driver) as phone, \
            aiohttp.ClientSession(headers=api) as desk:
        async with desk.post(url + "/api/v1/drivers", json={"name": "Probe driver",
                                                            "phone": PHONE}) as resp:
            body = await resp.json()
            if resp.status == 409:
                raise SystemExit("money probe: its driver exists already (a reused data dir?)")
            driver_id = body["id"]
        async with desk.post(url + f"/api/v1/drivers/{driver_id}/topups",
                             json={"amount": 5_000_000, "method": "cash"}) as resp:
            await resp.read()
        token_staff = await _csrf(staff, url, "/login")
        await _form(staff, url, "/login", {"username": "admin", "password": ADMIN_PASSWORD,
                                           "csrf_token": token_staff, "next": "/"})
        await _form(staff, url, f"/drivers/{driver_id}/pin", {"pin": PIN,
                                                              "csrf_token": token_staff},
                    expect=(200,))
        token_phone = await _csrf(phone, url, "/driver/login")
        await _form(phone, url, "/driver/login", {"identifier": PHONE, "pin": PIN,
                                                  "csrf_token": token_phone, "next": "/me"})
        probe_charger = ProbeCharger(charger)
        statuses: asyncio.Queue[tuple[float, str]] = asyncio.Queue()

        async def stream() -> None:
            async with staff.get(url + "/events", timeout=aiohttp.ClientTimeout(total=None)
                                 ) as resp:
                async for raw in resp.content:
                    line = raw.decode(errors="replace").strip()
                    if not line.startswith("data:"):
                        continue
                    with contextlib.suppress(ValueError):
                        event = json.loads(line[5:])
                        if event.get("type") == "ConnectorStatus" and \
                                event.get("station_id") == cpid:
                            await statuses.put((time.perf_counter(), event["status"]))

        reader = asyncio.create_task(stream())
        await asyncio.sleep(max(0.0, start_at - time.time()))
        # No round starts in the run's last seconds: the load's chargers all disconnect at its
        # end, and that storm is no steady site.
        end = time.perf_counter() + duration - END_MARGIN_S
        round_no = 0
        while time.perf_counter() < end:
            round_no += 1
            step, t = "the start page", time.perf_counter()
            try:
                # the QR start, and the session it asked for, start to stop; the phone opens
                # the start page first, as a driver's does (untimed: the goal is the POST)
                async with phone.get(url + f"/c/{cpid}/1") as resp:
                    await resp.read()
                t = time.perf_counter()
                step = "the QR start"
                await _form(phone, url, f"/c/{cpid}/1/start", {
                    "csrf_token": token_phone, "form_key": f"probe-{round_no}-{time.time()}"})
                at, tag = await asyncio.wait_for(probe_charger.starts.get(), 10)
                out["qr_start"].append((at - t) * 1000)
                step = "the probe charger's session"
                await charger.start(1, tag, authorize=False)
                await charger.meter(1, 500)
                await charger.stop(1, tag)
                # the desk
                step = "the desk top-up"
                t = time.perf_counter()
                async with desk.post(url + f"/api/v1/drivers/{driver_id}/topups",
                                     json={"amount": 100, "method": "cash"}) as resp:
                    await resp.read()
                    if resp.status != 201:
                        errors.append(f"topup {resp.status}")
                out["topup"].append((time.perf_counter() - t) * 1000)
                for kind, path in (("dashboard", "/"), ("charger_page", f"/stations/{cpid}")):
                    step = path
                    t = time.perf_counter()
                    async with staff.get(url + path) as resp:
                        await resp.read()
                        if resp.status != 200:
                            errors.append(f"{path} {resp.status}")
                    out[kind].append((time.perf_counter() - t) * 1000)
                # a status change, seen on the dashboard's stream
                while not statuses.empty():
                    statuses.get_nowait()
                status = "Unavailable" if round_no % 2 else "Available"
                t = time.perf_counter()
                step = f"the live status ({status})"
                await charger.call("StatusNotification", STATUS_FRAME, 2, status, _now())
                while True:
                    at, seen = await asyncio.wait_for(statuses.get(), 10)
                    if seen == status:
                        break
                out["live_status"].append((at - t) * 1000)
            except (TimeoutError, aiohttp.ClientError) as err:
                errors.append(f"round {round_no}: {type(err).__name__} {err} in {step} "
                              f"after {time.perf_counter() - t:.1f} s")
            await asyncio.sleep(0.5)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
    return {"latencies": out, "errors": errors, "rounds": round_no}


STATUS_FRAME = ""  # set by bench/load.py (its StatusNotification template)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(p / 100.0 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def verdicts(result: dict[str, Any]) -> list[str]:
    """PASS/FAIL per goal of issue 24's goal 3, with the figures."""
    lines = []
    for kind, (stat, goal) in GOALS_MS.items():
        values = result["latencies"].get(kind, [])
        figure = max(values) if stat == "max" and values else \
            percentile(values, float(stat[1:])) if values else None
        ok = figure is not None and figure < goal and not result["errors"]
        shown = "n/a" if figure is None else f"{figure:.1f}"
        worst = sorted(range(len(values)), key=lambda i: -values[i])[:3]
        lines.append(f"{'PASS' if ok else 'FAIL'}  3 {kind}: {stat} {shown} ms over "
                     f"{len(values)} (goal < {goal:.0f} ms; p50 "
                     f"{percentile(values, 50) or 0:.1f}; worst "
                     + ", ".join(f"{values[i]:.0f} (#{i + 1})" for i in worst) + ")")
    if result["errors"]:
        lines.append(f"FAIL  3 probe errors: {result['errors'][:5]}")
    return lines
