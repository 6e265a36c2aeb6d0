"""Pages for desk staff and managers: drivers (search, page, cards, top-ups with a printed
receipt, refunds and adjustments).

Money forms carry a one-time key: a double click or a resent form tops up once, through the
same idempotency records as the API's Idempotency-Key."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

from aiohttp import web

from appliance import keys
from appliance.billing import accounts, idempotency
from appliance.billing.ledger import METHODS
from appliance.billing.ledger import balance_upto as ledger_balance_upto
from appliance.billing.pricing import minor_exponent
from appliance.charging import history
from appliance.db.models_money import LedgerEntry
from appliance.errors import N_, ApplianceError, InvalidInput, NotFound, Text
from appliance.people.scope import Scope, session_site
from appliance.web import i18n
from appliance.web.audit import record, row_for
from appliance.web.export import csv_response, local_cell, major_number, time_header
from appliance.web.forms import parse_amount
from appliance.web.scope import scope_of
from appliance.web.session import require, staff_actor
from appliance.web.templating import page_site, render

routes = web.RouteTableDef()


def _driver_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError as err:
        raise NotFound("no such driver") from err


# --- list, create, edit -------------------------------------------------------------------------
@routes.get("/drivers")
@require("desk")
async def drivers_page(request: web.Request) -> web.StreamResponse:
    q = request.query.get("q") or None
    rows = await request.app[keys.DATABASE].read(accounts.list_drivers, None, 200, q)
    return render(request, "drivers.html", {"drivers": [r for _, r in rows], "q": q or ""})


@routes.get("/drivers.csv")
@require("desk")
async def drivers_csv(request: web.Request) -> web.StreamResponse:
    q = request.query.get("q") or None
    rows = await request.app[keys.DATABASE].read(accounts.list_drivers, None, 100_000, q)
    header = ["driver", "name", "phone", "email", "cards", "balance", "available", "debt",
              "currency", "blocked"]
    out = []
    for _, d in rows:
        cur = d["account"]["balance"]["currency"]
        out.append([d["id"], d["name"], d["phone"], d["email"],
                    " ".join(c["id_tag"] for c in d["cards"]),
                    *[major_number(d["account"][k]["amount"], cur)
                      for k in ("balance", "available", "debt")], cur, d["blocked"]])
    return csv_response("drivers.csv", header, out)


@routes.get("/drivers/{id:\\d+}/ledger.csv")
@require("desk")
async def ledger_csv(request: web.Request) -> web.StreamResponse:
    rows = await request.app[keys.DATABASE].read(accounts.driver_ledger, _driver_id(request),
                                                 None, 100_000)
    tz = page_site(request).tz
    header = ["entry", time_header("time", tz), "kind", "amount", "balance_after", "currency",
              "method", "receipt_no", "session", "clerk", "note"]
    return csv_response(f"driver-{_driver_id(request)}-ledger.csv", header, [
        [e["id"], local_cell(e["created_at"], tz), e["kind"],
         major_number(e["amount"]["amount"], e["amount"]["currency"]),
         major_number(e["balance_after"]["amount"], e["amount"]["currency"]),
         e["amount"]["currency"], e.get("method"), e.get("receipt_no"), e.get("session_id"),
         e.get("actor", ""), e.get("note")] for e in rows])


@routes.get("/drivers/new")
@require("desk")
async def new_driver_page(request: web.Request) -> web.StreamResponse:
    return await _render_new_driver(request)


async def _render_new_driver(request: web.Request, error: str | None = None,
                             form: dict[str, str] | None = None, status: int = 200
                             ) -> web.StreamResponse:
    form = form or {"id_tag": request.query.get("id_tag", ""), "mode": "commercial"}
    return render(request, "driver_new.html", {"form": form, "error": error}, status=status)


def _create_with_card(fields: dict[str, Any], currency: str, id_tag: str, mode: str) -> int:
    driver = accounts.create_driver(fields, currency)
    if id_tag:
        accounts.bind_card(driver["id"], id_tag, mode, None)
    return int(driver["id"])


@routes.post("/drivers")
@require("desk")
async def create_driver(request: web.Request) -> web.StreamResponse:
    form = {k: str(v) for k, v in (await request.post()).items() if k != "csrf_token"}
    fields = {k: form.get(k, "") for k in ("name", "phone", "email", "note", "language")}
    try:
        driver_id = await request.app[keys.DATABASE].run(
            _create_with_card, fields, request.app[keys.SITE].currency,
            form.get("id_tag", "").strip(), form.get("mode", "commercial"))
    except ApplianceError as err:
        return await _render_new_driver(request, err.message, form, 400)
    await record(request, "driver.create", str(driver_id), form)
    raise web.HTTPSeeOther(f"/drivers/{driver_id}")


def _driver_page_data(driver_id: int, sites: frozenset[int] | None = None) -> dict[str, Any]:
    """A driver (the operator's, seen at every site) and their sessions at the asker's sites."""
    driver = accounts.driver_dict(accounts.get_driver(driver_id))
    ledger = accounts.driver_ledger(driver_id, None, 500)
    sessions = [r for _, r in history.list_sessions(None, 100, None, None, None, None, None,
                                                     driver_id, sites)]
    if sites is not None:  # the money is the operator's; another site's session is not shown
        for entry in ledger:
            if entry.get("session_id") and not Scope(sites).allows(
                    session_site(entry["session_id"])):
                entry["session_id"] = None
    return {"driver": driver, "cards": accounts.driver_cards(driver_id),
            "ledger": list(reversed(ledger)), "sessions": sessions}


async def _render_driver(request: web.Request, message: str | None = None, ok: bool = True,
                         status: int = 200) -> web.StreamResponse:
    data = await request.app[keys.DATABASE].read(_driver_page_data, _driver_id(request),
                                                 scope_of(request).sites)
    data.update({"message": message, "ok": ok, "methods": METHODS,
                 "form_key": secrets.token_urlsafe(16)})
    return render(request, "driver.html", data, status=status)


@routes.get("/drivers/{id:\\d+}")
@require("desk")
async def driver_page(request: web.Request) -> web.StreamResponse:
    return await _render_driver(request)


@routes.post("/drivers/{id:\\d+}")
@require("desk")
async def edit_driver(request: web.Request) -> web.StreamResponse:
    form = {k: str(v) for k, v in (await request.post()).items() if k != "csrf_token"}
    fields: dict[str, Any] = {k: form.get(k, "") for k in ("name", "phone", "email", "note",
                                                           "language", "price_group")}
    fields["blocked"] = form.get("blocked") == "on"
    try:
        await request.app[keys.DATABASE].run(accounts.update_driver, _driver_id(request), fields)
    except ApplianceError as err:
        return await _render_driver(request, err.message, ok=False, status=400)
    await record(request, "driver.update", request.match_info["id"], fields)
    return await _render_driver(request, N_("Saved."))


@routes.post("/drivers/{id:\\d+}/cards")
@require("desk")
async def driver_cards(request: web.Request) -> web.StreamResponse:
    form = {k: str(v) for k, v in (await request.post()).items() if k != "csrf_token"}
    database, driver_id = request.app[keys.DATABASE], _driver_id(request)
    try:
        if form.get("action") == "block":
            from appliance.billing.cards import update_card

            await database.run(update_card, form["id_tag"], {"status": "Blocked"})
            text = Text(N_("Card %(card)s blocked."), card=form["id_tag"])
        elif form.get("action") == "unblock":
            from appliance.billing.cards import update_card

            await database.run(update_card, form["id_tag"], {"status": "Accepted"})
            text = Text(N_("Card %(card)s unblocked."), card=form["id_tag"])
        else:
            await database.run(accounts.bind_card, driver_id, form.get("id_tag", "").strip(),
                               form.get("mode", "commercial"), form.get("replaces") or None)
            text = Text(N_("Card %(card)s bound."), card=form.get("id_tag", ""))
    except (ApplianceError, KeyError) as err:
        message = err.message if isinstance(err, ApplianceError) else N_("A field is missing.")
        return await _render_driver(request, message, ok=False, status=400)
    await record(request, "driver.card", str(driver_id), form)
    return await _render_driver(request, text)


# --- money --------------------------------------------------------------------------------------
def _form_money(principal: str, path: str, form_key: str, body: dict[str, Any],
                work: Any, audited: Callable[[], None]) -> tuple[int, Any]:
    """A money form's change, its audit row and its answer under the form's key: one writer
    job (a form sent twice changes nothing the second time, its audit log included)."""
    def recorded() -> tuple[int, Any]:
        result = work(f"{principal}:form:{form_key}")
        audited()
        return 201, result

    req = idempotency.Request(principal, "POST", path, idempotency.check_key(form_key), body)
    return idempotency.once(req, recorded, lambda data: json.dumps(data, default=str))


def _topup_amount(request: web.Request, text: str) -> int:
    """The typed amount in minor units, refused above the site's cap for one top-up."""
    site = request.app[keys.SITE]
    amount = parse_amount(text, site.currency)
    accounts.check_topup_cap(amount, site.currency, site.topup_max)
    return amount


async def _render_topup_confirm(request: web.Request, amount: int, form: dict[str, str]
                                ) -> web.StreamResponse:
    driver = await request.app[keys.DATABASE].read(
        lambda: accounts.driver_dict(accounts.get_driver(_driver_id(request))))
    return render(request, "topup_confirm.html", {"driver": driver, "amount": amount,
                                                  "form": form})


@routes.post("/drivers/{id:\\d+}/topup")
@require("desk")
async def topup(request: web.Request) -> web.StreamResponse:
    form = {k: str(v) for k, v in (await request.post()).items() if k != "csrf_token"}
    driver_id, actor = _driver_id(request), staff_actor(request)
    site = request.app[keys.SITE]
    try:
        amount = _topup_amount(request, form.get("amount", ""))
        if amount > site.topup_confirm_above * 10 ** minor_exponent(site.currency) \
                and form.get("confirmed") != "yes":
            return await _render_topup_confirm(request, amount, form)
        body = {"amount": amount, "method": form.get("method"),
                "receipt_no": form.get("receipt_no", "")}
        _, result = await request.app[keys.DATABASE].run_first(
            _form_money, actor, request.path, form.get("form_key", ""), body,
            lambda ref: accounts.topup(driver_id, amount, str(form.get("method")),
                                       form.get("receipt_no", ""), f"topup:{ref}", actor,
                                       form.get("note", "")),
            await row_for(request, "money.topup", str(driver_id), form))
    except ApplianceError as err:
        return await _render_driver(request, err.message, ok=False, status=400)
    raise web.HTTPSeeOther(f"/drivers/{driver_id}/receipts/{result['entry_id']}")


@routes.post("/drivers/{id:\\d+}/correction")
@require("admin")
async def correction(request: web.Request) -> web.StreamResponse:
    form = {k: str(v) for k, v in (await request.post()).items() if k != "csrf_token"}
    driver_id, actor = _driver_id(request), staff_actor(request)
    kind = form.get("kind", "")
    try:
        if kind not in ("refund", "adjustment"):
            raise InvalidInput(N_("Choose refund or adjustment."))
        amount = parse_amount(form.get("amount", "").lstrip("-"),
                              request.app[keys.SITE].currency)
        if kind == "adjustment" and form.get("amount", "").strip().startswith("-"):
            amount = -amount
        session_id = int(form["session_id"]) if form.get("session_id") else None
        body = {"kind": kind, "amount": amount, "reason": form.get("reason", ""),
                "session_id": session_id}
        await request.app[keys.DATABASE].run(
            _form_money, actor, request.path, form.get("form_key", ""), body,
            lambda ref: accounts.correct(driver_id, kind, amount, form.get("reason", ""),
                                         f"{kind}:{session_id or '-'}:{ref}", actor, session_id),
            await row_for(request, f"money.{kind}", str(driver_id), form))
    except (ApplianceError, ValueError) as err:
        message = err.message if isinstance(err, ApplianceError) else "session must be a number"
        return await _render_driver(request, message, ok=False, status=400)
    return await _render_driver(request, f"{kind.capitalize()} booked.")


def _receipt(driver_id: int, entry_id: int) -> dict[str, Any]:
    entry = LedgerEntry.get_or_none(LedgerEntry.id == entry_id)
    account = accounts.account_of(driver_id)
    if entry is None or entry.account_id != account.id:
        raise NotFound("no such receipt")
    balance_after = entry.balance_after
    if balance_after is None:  # a row posted before balances were stored with it
        balance_after = ledger_balance_upto(account.id, entry.id)
    return {"entry": entry, "balance_after": balance_after,
            "driver": accounts.driver_dict(accounts.get_driver(driver_id))}


@routes.get("/drivers/{id:\\d+}/receipts/{entry:\\d+}")
@require("desk")
async def receipt(request: web.Request) -> web.StreamResponse:
    data = await request.app[keys.DATABASE].read(_receipt, _driver_id(request),
                                                 int(request.match_info["entry"]))
    data["site"] = request.app[keys.SITE]
    # Printed for the driver: in the driver's language when the account has one.
    own = i18n.language_of(data["driver"]["language"], request.app[keys.CATALOGS].offered)
    if own is not None:
        request[i18n.LANGUAGE] = own
    return render(request, "receipt_topup.html", data)
