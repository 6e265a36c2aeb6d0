"""Which language each person reads, and the catalogs behind it.

Catalogs are the shipped `.po` files under `locale/`, read once at start and turned into gettext
tables in memory: nothing to compile at install, nothing that can go stale beside its source.
English is the source text. `en_XA` is a pseudo-locale for tests: every translated text comes
out accented and in brackets, so text that skipped gettext stands out."""

from __future__ import annotations

import gettext
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from aiohttp import web
from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from appliance import keys

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "appliance"
SOURCE = "en"
PSEUDO = "en_XA"
COOKIE = "appliance_lang"
COOKIE_MAX_AGE_S = 400 * 24 * 3600
# Each language by its own name: a person looks for the one they can read.
NAMES: dict[str, str] = {"en": "English", "gu": "ગુજરાતી", "hi": "हिन्दी", "zh_Hans": "简体中文",
                         PSEUDO: "[Ƥşéûđô]"}

# The language a request is answered in (set once per request by whoever knows the person).
LANGUAGE: web.RequestKey[str] = web.RequestKey("language", str)
# A logged-in staff member's own choice ("" for the site's), set by the session middleware.
STAFF_LANGUAGE: web.RequestKey[str] = web.RequestKey("staff_language", str)


def N_(text: str) -> str:
    """Marks a text for the catalog where it is defined; it is translated where it is shown."""
    return text


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
    # Why a session stopped (OCPP 1.6 Reason)
    "EVDisconnected": N_("car unplugged"), "Local": N_("stopped at the charger"),
    "Remote": N_("stopped from the app"), "PowerLoss": N_("power cut"),
    "Reboot": N_("charger restarted"), "HardReset": N_("charger restarted"),
    "SoftReset": N_("charger restarted"), "EmergencyStop": N_("emergency stop"),
    "DeAuthorized": N_("card not accepted"), "UnlockCommand": N_("cable unlocked"),
    "Other": N_("other"),
}


def read_catalog(path: Path) -> gettext.GNUTranslations:
    """A `.po` file as a gettext table (fuzzy entries left out, as `pybabel compile` does)."""
    with path.open("rb") as fh:
        catalog = read_po(fh)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


_KEEP = re.compile(r"(%\([a-z_]+\)[sd]|%[sd%]|<[^>]*>|&[a-z#0-9]+;)")
_ACCENTS = str.maketrans("AEIOUYCDNSaeiouycdns", "ÅÉÎÖÛÝÇĐÑŠåéîöûýçđñš")


def pseudo(text: str) -> str:
    """Accented and bracketed, placeholders and markup kept as they are."""
    parts = _KEEP.split(text)
    return "⟦" + "".join(p if i % 2 else p.translate(_ACCENTS) for i, p in enumerate(parts)) + "⟧"


class PseudoTranslations(gettext.NullTranslations):
    """The en_XA pseudo-locale: every text through gettext comes out marked."""

    def gettext(self, message: str) -> str:
        return pseudo(message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return pseudo(msgid1 if n == 1 else msgid2)

    def pgettext(self, context: str, message: str) -> str:
        return pseudo(message)

    def npgettext(self, context: str, msgid1: str, msgid2: str, n: int) -> str:
        return pseudo(msgid1 if n == 1 else msgid2)


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
        text = str(value) if value is not None else ""
        return translations.gettext(LABELS[text]) if text in LABELS else text

    env.globals["label"] = label
    # A message made in Python (marked there with N_) shown in the reader's language; unlike
    # `_`, no %-formatting, so any text is safe here.
    env.globals["tr"] = lambda text: translations.gettext(str(text)) if text else ""
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
        self.tables[SOURCE] = gettext.NullTranslations()
        for po in sorted(self.locale_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
            self.tables[po.parent.parent.name] = read_catalog(po)
        if self.with_pseudo:
            self.tables[PSEUDO] = PseudoTranslations()

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


def language_of(value: str | None, offered: Iterable[str]) -> str | None:
    """The offered language a tag names ("hi-IN", "gu_IN", "zh-Hans-CN", "zh-CN"), or None."""
    if not value:
        return None
    offered = list(offered)
    if value in offered:
        return value
    try:
        parsed = Locale.parse(value.strip().replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None
    if parsed.language == "zh" and parsed.script in (None, "Hans") and "zh_Hans" in offered:
        return "zh_Hans" if parsed.territory in (None, "CN", "SG") or parsed.script else None
    return parsed.language if parsed.language in offered else None


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


def format_locale(code: str, site_locale: str) -> Locale:
    """Numbers, money and dates: the person's language in the site's country (Hindi at an
    Indian site is hi_IN: ₹1,00,000.00), or the language alone where CLDR has no such pair."""
    code = SOURCE if code == PSEUDO else code
    try:
        territory = Locale.parse(site_locale).territory
    except (UnknownLocaleError, ValueError, TypeError):
        territory = None
    if territory:
        try:
            return Locale.parse(f"{code}_{territory}")
        except (UnknownLocaleError, ValueError):
            pass
    return Locale.parse(code)


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
