"""Which language each person reads on the pages (their own choice, their phone's, the site's),
and a Jinja environment per language over the shared catalogs (`appliance.catalogs`)."""

from __future__ import annotations

import functools
import gettext
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from aiohttp import web
from babel import Locale, UnknownLocaleError

from appliance import keys
from appliance.catalogs import (
    LOCALE_DIR,
    NAMES,
    PSEUDO,
    SOURCE,
    format_locale,
    language_of,
    load,
    pseudo,
    translate,
)
from appliance.errors import N_

COOKIE = "appliance_lang"
COOKIE_MAX_AGE_S = 400 * 24 * 3600

# The language a request is answered in (set once per request by whoever knows the person).
LANGUAGE: web.RequestKey[str] = web.RequestKey("language", str)
# A logged-in staff member's own choice ("" for the site's), set by the session middleware.
STAFF_LANGUAGE: web.RequestKey[str] = web.RequestKey("staff_language", str)


# Values stored or sent by chargers that pages show: OCPP statuses, session, start and card
# states, ledger kinds, payment methods, roles. Shown through `label()`, which translates the
# known ones and leaves anything else (a vendor's own code) as it came.
LABELS: dict[str, str] = {
    "Available": N_("Available"), "Preparing": N_("Preparing"), "Charging": N_("Charging"),
    "SuspendedEV": N_("Paused by car"), "SuspendedEVSE": N_("Paused by charger"),
    "Finishing": N_("Finishing"), "Reserved": N_("Reserved"), "Unavailable": N_("Unavailable"),
    "Faulted": N_("Faulted"), "Offline": N_("Offline"), "Unknown": N_("Unknown"),
    "Accepted": N_("Accepted"), "Blocked": N_("Blocked"), "Expired": N_("Expired"),
    "Invalid": N_("Invalid"), "ConcurrentTx": N_("Already charging"),
    "active": N_("charging"), "completed": N_("completed"), "suspect": N_("suspect"),
    "closed": N_("closed"), "pending": N_("waiting"), "started": N_("started"),
    "failed": N_("failed"), "expired": N_("expired"), "finished": N_("finished"),
    "captured": N_("captured"), "released": N_("released"), "open": N_("open"),
    "topup": N_("top-up"), "topup_reversal": N_("top-up reversed"), "charge": N_("charging fee"),
    "refund": N_("refund"), "payout": N_("payout"), "adjustment": N_("adjustment"),
    "hold": N_("set aside"), "release": N_("given back"),
    "cash": N_("cash"), "card_terminal": N_("card terminal"),
    "bank_transfer": N_("bank transfer"), "other": N_("other"),
    "personal": N_("personal"), "commercial": N_("prepaid"),
    "admin": N_("admin"), "desk": N_("desk"), "online": N_("online"), "offline": N_("offline"),
    "rebooted": N_("charger rebooted"), "flagged": N_("flagged"),
    "open_too_long": N_("open too long"), "ledger": N_("ledger"),
    "walkin_debt": N_("walk-in debt"), "settlement_mismatch": N_("settlement mismatch"),
    "settlement_unchecked": N_("settlement not checked"),
    "payment": N_("payment"), "given_back": N_("given back"),
    "not_captured": N_("not captured"), "upi": "UPI", "netbanking": N_("netbanking"),
    # Why a session stopped (OCPP 1.6 Reason)
    "EVDisconnected": N_("car unplugged"), "Local": N_("stopped at the charger"),
    "Remote": N_("stopped from the app"), "PowerLoss": N_("power cut"),
    "Reboot": N_("charger restarted"), "HardReset": N_("charger restarted"),
    "SoftReset": N_("charger restarted"), "EmergencyStop": N_("emergency stop"),
    "DeAuthorized": N_("card not accepted"), "UnlockCommand": N_("cable unlocked"),
    "Other": N_("other"),
}


def actor_label(_: Callable[[str], str], actor: str | None) -> str:
    """Who did something, in words a person reads (the stored form is `staff:{user}`,
    `token:{name}`, `driver:{id}` or `system`)."""
    actor = actor or ""
    kind, _sep, name = actor.partition(":")
    if kind == "staff" and name:
        return str(name)
    if kind == "token" and name:
        return _("API token %(name)s") % {"name": name}
    if kind == "driver" and name:
        return _("the driver (phone)")
    if actor in ("system", "qr-start", ""):
        return _("the box (automatic)")
    return _("not recorded") if actor == "anonymous" else actor


def label_text(translations: gettext.NullTranslations, value: object) -> str:
    """A stored value (a status, a state, a kind) in the reader's words; unknown ones as they
    came (a vendor's own code)."""
    text = str(value) if value is not None else ""
    return translations.gettext(LABELS[text]) if text in LABELS else text


def make_environment(translations: gettext.NullTranslations, templates: Path
                     ) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]

    def label(value: object) -> str:
        return label_text(translations, value)

    env.globals["label"] = label
    env.globals["who"] = functools.partial(actor_label, translations.gettext)
    # A message made in Python (marked there with N_) shown in the reader's language; unlike
    # `_`, no %-formatting, so any text is safe here.
    env.globals["tr"] = lambda text: translate(translations, text) if text else ""
    env.globals["labels_json"] = json.dumps(
        {k: translations.gettext(v) for k, v in LABELS.items()}, ensure_ascii=False)
    return env


@dataclass
class Catalogs:
    """Every shipped language's gettext table and its Jinja environment (templates compile once
    per language, on first use)."""

    templates: Path
    locale_dir: Path = LOCALE_DIR
    with_pseudo: bool = False
    tables: dict[str, gettext.NullTranslations] = field(default_factory=dict)
    _envs: dict[str, jinja2.Environment] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tables.update(load(self.locale_dir, self.with_pseudo))

    @property
    def offered(self) -> list[str]:
        """Languages a person may choose, English first, the pseudo-locale never."""
        return [SOURCE] + sorted(c for c in self.tables if c not in (SOURCE, PSEUDO))

    def translations(self, code: str) -> gettext.NullTranslations:
        return self.tables.get(code) or self.tables[SOURCE]

    def environment(self, code: str) -> jinja2.Environment:
        code = code if code in self.tables else SOURCE
        if code not in self._envs:
            self._envs[code] = make_environment(self.tables[code], self.templates)
        return self._envs[code]


def from_accept_language(header: str, offered: Iterable[str]) -> str | None:
    """The best offered language an `Accept-Language` header asks for, by its q-values."""
    choices: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and quality > 0:
            choices.append((-quality, position, tag))
    offered = list(offered)
    for _, _, tag in sorted(choices):
        code = language_of(tag, offered)
        if code is not None:
            return code
    return None


def site_language(site_locale: str, offered: Iterable[str]) -> str:
    return language_of(site_locale, offered) or SOURCE


def choose(request: web.Request, *, own: str | None = None, driver: bool = False) -> str:
    """The language of one answer: the person's own choice (a staff login's; else this
    browser's cookie, which a switch on a phone sets; else a driver account's), then for
    drivers what their phone asks for, then the site's."""
    offered = request.app[keys.CATALOGS].tables.keys()
    for choice in (request.get(STAFF_LANGUAGE), request.cookies.get(COOKIE), own):
        code = language_of(choice, offered)
        if code is not None:
            return code
    if driver:
        code = from_accept_language(request.headers.get("Accept-Language", ""), offered)
        if code is not None:
            return code
    return site_language(request.app[keys.SITE].locale, offered)


def request_language(request: web.Request) -> str:
    if LANGUAGE not in request:
        request[LANGUAGE] = choose(request)
    return request[LANGUAGE]


def site_locale_choices(site_locale: str, offered: Iterable[str]) -> list[tuple[str, str]]:
    """The site language dropdown: each offered language in the site's country where CLDR has
    the pair (gu_IN), else alone (zh_Hans), by its own name."""
    try:
        territory = Locale.parse(site_locale).territory or "IN"
    except (UnknownLocaleError, ValueError, TypeError):
        territory = "IN"
    choices = []
    for code in offered:
        value = str(format_locale(code, f"und_{territory}" if territory else "en"))
        choices.append((value, NAMES.get(code, code)))
    if site_locale not in {v for v, _ in choices}:
        choices.append((site_locale, site_locale))  # a value set before: shown, kept
    return choices


def gettext_for(request: web.Request) -> gettext.NullTranslations:
    """The gettext table of this answer's language, for texts built in Python."""
    return request.app[keys.CATALOGS].translations(request_language(request))


__all__ = ["LOCALE_DIR", "NAMES", "PSEUDO", "SOURCE", "N_", "format_locale", "language_of",
           "pseudo", "Catalogs", "LABELS", "choose", "request_language", "gettext_for",
           "from_accept_language", "site_language", "site_locale_choices", "make_environment"]
