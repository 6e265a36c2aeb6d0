"""Pages: the site CA for download (PEM and DER, with its fingerprint), the box's server
certificate and a manager's own one (upload), added CAs for chargers' certificates; and a
charger's security: its profile, raising it (install the CA, then the profile change), its
certificates (ask for one, revoke), the certificate commands and their results."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from appliance import keys
from appliance.charging import certificates, upgrade
from appliance.charging.control import CertificateId, CertificateKind, ChargerControl, Trigger
from appliance.errors import N_, ApplianceError, InvalidInput, Text
from appliance.web.admin.stations import render_station
from appliance.web.audit import record
from appliance.web.i18n import gettext_for
from appliance.web.session import require
from appliance.web.templating import render

routes = web.RouteTableDef()


@routes.get("/ca.pem")
async def ca_pem(request: web.Request) -> web.Response:
    """The site CA, for chargers and for browsers (public: a certificate is no secret)."""
    return web.Response(body=request.app[keys.TLS].ca_pem, content_type="application/x-pem-file",
                        headers={"Content-Disposition": 'attachment; filename="site-ca.pem"'})


@routes.get("/ca.crt")
async def ca_der(request: web.Request) -> web.Response:
    """The same, DER encoded: what phones and Windows install with a tap."""
    der = x509.load_pem_x509_certificate(request.app[keys.TLS].ca_pem).public_bytes(Encoding.DER)
    return web.Response(body=der, content_type="application/x-x509-ca-cert",
                        headers={"Content-Disposition": 'attachment; filename="site-ca.crt"'})


async def _render_certificates(request: web.Request, message: str | None = None,
                               ok: bool = True, status: int = 200) -> web.Response:
    pki = request.app[keys.TLS]
    whose, served, names = await asyncio.to_thread(pki.serving_info)
    return render(request, "certificates.html", {
        "fingerprint": pki.ca_fingerprint, "whose": whose, "served": served,
        "names": sorted(names), "tls_port": request.app[keys.SETTINGS].tls_port,
        "message": message, "ok": ok}, status=status)


@routes.get("/settings/certificates")
@require("admin")
async def certificates_page(request: web.Request) -> web.StreamResponse:
    return await _render_certificates(request)


async def _file(form: Any, name: str) -> bytes:
    field = form.get(name)
    if field is None or isinstance(field, str):
        return (field or "").encode()
    return bytes(field.file.read(256 * 1024))


@routes.post("/settings/certificates")
@require("admin")
async def certificates_post(request: web.Request) -> web.StreamResponse:
    """Upload a manager's own server certificate (chain) and key, go back to the box's own,
    or add a CA whose certificates chargers may present (profile 3)."""
    pki, form = request.app[keys.TLS], await request.post()
    action = str(form.get("action", ""))
    try:
        if action == "upload":
            chain, key = await _file(form, "chain"), await _file(form, "key")
            checked = await asyncio.to_thread(pki.upload, chain, key)
            detail: dict[str, Any] = {"serial": checked.serial, "cn": checked.common_name}
            message = Text(N_("Your certificate %(cn)s is served on the TLS port now."),
                           cn=checked.common_name)
        elif action == "box":
            await asyncio.to_thread(pki.remove_upload)
            detail, message = {}, Text(N_("The box's own certificate is served again."))
        elif action == "trust":
            checked = await asyncio.to_thread(pki.add_trusted, await _file(form, "ca"))
            detail = {"serial": checked.serial, "cn": checked.common_name}
            message = Text(N_("Chargers' certificates from %(cn)s are accepted now."),
                           cn=checked.common_name)
        else:
            raise InvalidInput(N_("unknown action"))
        assert pki.ssl_context is not None
        await asyncio.to_thread(pki.reload, pki.ssl_context)
    except (ApplianceError, ValueError) as err:
        text = err.message if isinstance(err, ApplianceError) else str(err)
        return await _render_certificates(request, text, ok=False, status=400)
    await record(request, f"certificates.{action}", "tls", detail)
    return await _render_certificates(request, message)


# --- a charger's security ------------------------------------------------------------------------
SecurityAction = Callable[[web.Request, str, int, dict[str, str]], Awaitable[str]]


async def _command(request: web.Request, station_id: int, action: str, asked: dict[str, Any],
                   status: str, result: dict[str, Any] | None = None) -> None:
    await request.app[keys.DATABASE].run(certificates.record_command, station_id, action, asked,
                                         status, result or {}, _who(request))


def _who(request: web.Request) -> str:
    from appliance.web.session import current_staff

    staff = current_staff(request)
    return staff.username if staff else ""


async def _install_ca(request: web.Request, cpid: str, station_id: int,
                      form: dict[str, str]) -> str:
    control: ChargerControl = request.app[keys.CONTROL]
    root = await asyncio.to_thread(request.app[keys.TLS].root_for_chargers)
    status = await control.install_certificate(cpid, CertificateKind.CSMS_ROOT, root.decode())
    await _command(request, station_id, "InstallCertificate", {"type": "csms_root"}, status)
    return status


async def _raise(request: web.Request, cpid: str, station_id: int, form: dict[str, str]) -> str:
    """Profile 2: the charger gets the CA first, then the profile change, and reconnects over
    wss://. Profile 3 needs a certificate the site CA signed for it (ask for one first)."""
    root = await asyncio.to_thread(request.app[keys.TLS].root_for_chargers)
    return await upgrade.raise_profile(request.app[keys.CONTROL], request.app[keys.DATABASE],
                                       root, cpid, int(form["profile"]), _who(request))


async def _sign(request: web.Request, cpid: str, station_id: int, form: dict[str, str]) -> str:
    status = await request.app[keys.CONTROL].trigger(cpid, Trigger.SIGN_CERTIFICATE)
    await _command(request, station_id, "TriggerSignCertificate", {}, status)
    return status


async def _list(request: web.Request, cpid: str, station_id: int, form: dict[str, str]) -> str:
    kind = CertificateKind(form.get("kind") or CertificateKind.CSMS_ROOT)
    found = await request.app[keys.CONTROL].installed_certificates(cpid, kind)
    ids = [vars(c) for c in found.certificates]
    await _command(request, station_id, "GetInstalledCertificateIds", {"type": kind.value},
                   found.status, {"certificates": ids})
    return found.status


async def _delete(request: web.Request, cpid: str, station_id: int,
                  form: dict[str, str]) -> str:
    cert = CertificateId(form["hash_algorithm"], form["issuer_name_hash"],
                         form["issuer_key_hash"], form["serial_number"])
    status = await request.app[keys.CONTROL].delete_certificate(cpid, cert)
    await _command(request, station_id, "DeleteCertificate", vars(cert), status)
    return status


async def _revoke(request: web.Request, cpid: str, station_id: int,
                  form: dict[str, str]) -> str:
    await request.app[keys.DATABASE].run(certificates.revoke, station_id, form["serial"],
                                         _who(request))
    return N_("Revoked.")


async def _reset(request: web.Request, cpid: str, station_id: int, form: dict[str, str]) -> str:
    """An admin's explicit reset to a lower profile: the only way down (audited)."""
    old = await request.app[keys.DATABASE].run(certificates.reset_profile, station_id,
                                               int(form["profile"]))
    return f"{old} -> {form['profile']}"


ACTIONS: dict[str, SecurityAction] = {"raise": _raise, "sign": _sign, "install_ca": _install_ca,
                                      "list": _list, "delete": _delete, "revoke": _revoke,
                                      "reset": _reset}


@routes.post("/stations/{id}/security")
@require("admin")
async def station_security(request: web.Request) -> web.StreamResponse:
    cpid = request.match_info["id"]
    form = {k: str(v) for k, v in (await request.post()).items()}
    name = form.get("action", "")
    if name not in ACTIONS:
        raise InvalidInput(N_("unknown action"))
    station_id = await request.app[keys.DATABASE].read(certificates.station_id_of, cpid)
    await record(request, f"station.security.{name}", cpid, {
        k: v for k, v in form.items() if k not in ("action", "csrf_token")})
    label = gettext_for(request).gettext("Security")
    try:
        text = await ACTIONS[name](request, cpid, station_id, form)
        return await render_station(request, {"ok": True, "action": label, "text": text})
    except (KeyError, ValueError):
        return await render_station(request, {"ok": False, "action": label,
                                              "text": N_("Fill in every field.")}, 400)
    except ApplianceError as err:
        return await render_station(request, {"ok": False, "action": label,
                                              "text": err.message})
