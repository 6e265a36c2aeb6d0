"""The translation catalogs, for every room that speaks to people (pages, mails, the command
line): the shipped `.po` files under `appliance/locale/`, read once into gettext tables in
memory, so nothing is compiled at install and nothing can go stale beside its source. English
is the source text. `en_XA` is a pseudo-locale for tests: every translated text comes out
accented and in brackets, so text that skipped gettext stands out."""

from __future__ import annotations

import functools
import gettext
import io
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from appliance.errors import N_, Text

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "appliance"
SOURCE = "en"
PSEUDO = "en_XA"
# Each language by its own name: a person looks for the one they can read.
NAMES: dict[str, str] = {"en": "English", "gu": "ગુજરાતી", "hi": "हिन्दी", "zh_Hans": "简体中文",
                         PSEUDO: "[Ƥşéûđô]"}

__all__ = ["LOCALE_DIR", "DOMAIN", "SOURCE", "PSEUDO", "NAMES", "N_", "read_catalog", "pseudo",
           "PseudoTranslations", "translate", "load", "language_of", "format_locale", "for_locale",
           "from_environment", "shipped", "reader"]


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


def translate(translations: gettext.NullTranslations, text: str) -> str:
    """A text made in Python in the reader's language: a `Text` by its catalog entry, filled
    in with its values; any other string as the catalog has it (or as it is)."""
    if isinstance(text, Text):
        if not text.params:
            return translations.gettext(text.template)
        params = {k: translate(translations, v) if isinstance(v, Text) else v
                  for k, v in text.params.items()}  # a reason that is itself one of ours
        return translations.gettext(text.template) % params
    return translations.gettext(text) if text else ""


def load(locale_dir: Path = LOCALE_DIR, with_pseudo: bool = False
         ) -> dict[str, gettext.NullTranslations]:
    """English (the source), every shipped catalog, and the pseudo-locale if asked for."""
    tables: dict[str, gettext.NullTranslations] = {SOURCE: gettext.NullTranslations()}
    for po in sorted(locale_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        tables[po.parent.parent.name] = read_catalog(po)
    if with_pseudo:
        tables[PSEUDO] = PseudoTranslations()
    return tables


def language_of(value: str | None, offered: Iterable[str]) -> str | None:
    """The offered language a tag names ("hi-IN", "gu_IN", "zh-Hans-CN", "zh-CN"), or None."""
    if not value:
        return None
    offered = list(offered)
    if value in offered:
        return value
    try:
        parsed = Locale.parse(value.strip().split(".")[0].replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None
    if parsed.language == "zh" and "zh_Hans" in offered and parsed.script in (None, "Hans"):
        return "zh_Hans" if parsed.script or parsed.territory in (None, "CN", "SG") else None
    return parsed.language if parsed.language in offered else None


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


def for_locale(site_locale: str, tables: Mapping[str, gettext.NullTranslations] | None = None
               ) -> tuple[gettext.NullTranslations, Locale]:
    """The gettext table and formatting locale of a site's language (mails to the site's
    addresses, which carry no language of their own)."""
    tables = tables if tables is not None else load()
    code = language_of(site_locale, tables) or SOURCE
    return tables[code], format_locale(code, site_locale)


@functools.lru_cache(maxsize=1)
def shipped() -> dict[str, gettext.NullTranslations]:
    """Every catalog (and the pseudo-locale), read once: for the rooms that speak to people
    without the pages' catalogs (a charger's display)."""
    return load(with_pseudo=True)


def reader(language: str, site_locale: str) -> tuple[str, gettext.NullTranslations, Locale]:
    """A person's language (the site's when they chose none or one we do not ship): its code,
    gettext table and formatting locale."""
    tables = shipped()
    code = language_of(language, tables) or language_of(site_locale, tables) or SOURCE
    return code, tables[code], format_locale(code, site_locale)


def from_environment(environ: Mapping[str, str] | None = None) -> gettext.NullTranslations:
    """The command line speaks the installer's shell language (LANGUAGE, LC_ALL, LC_MESSAGES,
    LANG, as gettext reads them), English when it names none of ours."""
    environ = environ if environ is not None else os.environ
    tables = load()
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        for tag in environ.get(name, "").split(":"):
            code = language_of(tag, tables)
            if code is not None:
                return tables[code]
    return tables[SOURCE]
