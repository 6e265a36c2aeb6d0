"""The shipped catalogs are complete and safe: every text the sources mark is translated in
every language, no translation breaks or drops a placeholder, and none is left over from texts
that are gone. Also: who gets which language, and figures in each locale."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from appliance import catalogs, formats
from appliance.charging import certificates
from appliance.errors import N_, InvalidInput, Text
from appliance.reports.tables import mail_subject, summary_text
from appliance.web import i18n
from appliance.web.templating import TEMPLATES

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.parent.parent.name for p in catalogs.LOCALE_DIR.glob("*/LC_MESSAGES/*.po"))
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%[sd%]")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """What the sources mark today (the same command the README gives)."""
    pot = tmp_path_factory.mktemp("pot") / "appliance.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F",
                    str(ROOT / "babel.cfg"), "-o", str(pot), str(ROOT)], check=True, cwd=ROOT,
                   capture_output=True)
    with pot.open("rb") as fh:
        return read_po(fh)


def _load(language: str) -> Catalog:
    with (catalogs.LOCALE_DIR / language / "LC_MESSAGES" / "appliance.po").open("rb") as fh:
        return read_po(fh, locale=language)


def test_the_three_languages_ship() -> None:
    assert {"gu", "hi", "zh_Hans"} <= set(SHIPPED)  # English is the source text itself


def test_sources_mark_the_pages_texts(extracted: Catalog) -> None:
    ids = {m.id for m in extracted if m.id}
    assert {"Dashboard", "Log in", "Top up", "Chargers", "Sessions", "Available",
            "Wrong user name or password.", "Settings saved."} <= ids
    assert len(ids) > 400


@pytest.mark.parametrize("language", SHIPPED)
def test_catalog_is_complete(language: str, extracted: Catalog) -> None:
    catalog = _load(language)
    wanted = {m.id for m in extracted if m.id}
    have = {m.id for m in catalog if m.id}
    missing = [m for m in wanted - have]
    untranslated = [m.id for m in catalog if m.id and (
        m.fuzzy or not (all(m.string) if isinstance(m.string, tuple) else m.string))]
    stale = [m for m in have - wanted]
    assert not missing, f"{language}: not in the catalog (run pybabel update): {missing}"
    assert not untranslated, f"{language}: not translated or fuzzy: {untranslated}"
    assert not stale, f"{language}: no longer in the sources (run pybabel update): {stale}"


@pytest.mark.parametrize("language", SHIPPED)
def test_placeholders_survive_translation(language: str) -> None:
    catalog = _load(language)
    broken = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = sorted(PLACEHOLDER.findall(ids[-1]))
        for string in strings:
            if sorted(PLACEHOLDER.findall(string)) != expected:
                broken.append((ids[0], string))
    assert not broken, f"{language}: placeholders differ: {broken}"
    assert not [e for _, errors in catalog.check() for e in errors if errors]


def test_a_catalog_changes_what_the_pages_say() -> None:
    catalogs = i18n.Catalogs(TEMPLATES, with_pseudo=True)
    assert {"en", "gu", "hi"} <= set(catalogs.offered) and i18n.PSEUDO not in catalogs.offered
    context = {"staff": None, "csrf_token": "t", "next": "/", "error": None, "site_name": "S",
               "path": "/login", "request": None, "languages": [], "language": "gu",
               "html_lang": "gu"}
    html = catalogs.environment("gu").get_template("login.html").render(context)
    assert "લૉગિન" in html and "પાસવર્ડ" in html and "Password" not in html
    html = catalogs.environment("hi").get_template("login.html").render(context)
    assert "पासवर्ड" in html
    html = catalogs.environment("zh_Hans").get_template("login.html").render(context)
    assert "密码" in html and "登录" in html
    assert catalogs.environment(i18n.PSEUDO).get_template("login.html").render(context).count(
        "⟦") >= 3


@pytest.mark.parametrize(("header", "expected"), [
    ("hi-IN,hi;q=0.9,en;q=0.8", "hi"), ("en-GB,gu;q=0.5", "en"), ("fr-FR, gu;q=0.4", "gu"),
    ("gu-IN;q=0.2, hi;q=0.7", "hi"), ("fr, de", None), ("", None), ("hi;q=0", None),
    ("zh-CN,zh;q=0.9", "zh_Hans"), ("zh-Hans-SG", "zh_Hans"), ("zh-TW", None)])
def test_accept_language_first_guess(header: str, expected: str | None) -> None:
    assert i18n.from_accept_language(header, ["en", "gu", "hi", "zh_Hans"]) == expected


def test_formatting_locale_is_the_language_in_the_sites_country() -> None:
    assert str(i18n.format_locale("hi", "en_IN")) == "hi_IN"
    assert str(i18n.format_locale("gu", "gu_IN")) == "gu_IN"
    assert str(i18n.format_locale(i18n.PSEUDO, "en_IN")) == "en_IN"
    assert str(i18n.format_locale("zh_Hans", "en_IN")) == "zh_Hans"  # CLDR has no zh_Hans_IN


@pytest.mark.parametrize(("locale", "money", "kwh"), [
    ("en_IN", "₹1,00,000.00", "12,34,567.89"), ("hi_IN", "₹1,00,000.00", "12,34,567.89"),
    ("gu_IN", "₹1,00,000.00", "12,34,567.89"), ("en_US", "₹100,000.00", "1,234,567.89")])
def test_indian_grouping_and_latin_digits(locale: str, money: str, kwh: str) -> None:
    assert formats.money(10_000_000, "INR", locale) == money
    assert formats.kwh(1_234_567_890, locale) == kwh
    assert formats.kwh(2500, locale) == "2.50"


def test_dates_in_the_sites_time_zone_and_language() -> None:
    moment = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)  # 01:30 on the 6th in Kolkata
    tz = ZoneInfo("Asia/Kolkata")
    assert formats.when(moment, tz, Locale.parse("en_IN"), "date") == "6 Dec 2026"
    assert "ડિસે" in formats.when(moment, tz, Locale.parse("gu_IN"))
    assert "दिस" in formats.when(moment, tz, Locale.parse("hi_IN"))
    assert "1:30" in formats.when(moment, tz, Locale.parse("hi_IN"), "time")
    assert formats.duration(3900, "gu_IN") == "1 કલાક 5 મિનિટ"
    assert formats.duration(3900, "en_IN") == "1 hr 5 mins"


def test_the_report_mail_speaks_the_sites_language() -> None:
    report = {"day": "2026-12-04", "timezone": "Asia/Kolkata", "currency": "INR",
              "anomalies": [],
              "totals": {"chargers": 3, "charging_s": 5400, "energy_wh": 123_456_789,
                         "fees_minor": 12_345_600, "sessions": 7, "drivers": 4,
                         "topups_count": 2, "topups_minor": 500_000}}
    translations, locale = catalogs.for_locale("gu_IN")
    text = summary_text(report, translations, locale)
    assert "4 ડિસે, 2026 નો રિપોર્ટ" in text and "ચાર્જર: 3" in text
    assert "ઊર્જા: 1,23,456.789 kWh" in text and "ફી: ₹1,23,456.00" in text
    assert "ખાતાવહી બરાબર છે" in text
    assert mail_subject("2026-12-04", translations) == "ચાર્જિંગ રિપોર્ટ 2026-12-04"
    english = summary_text(report, *catalogs.for_locale("en_IN"))
    assert "Report for 4 Dec 2026 (Asia/Kolkata)" in english and "₹1,23,456.00" in english


@pytest.mark.parametrize(("environ", "expected"), [
    ({"LANG": "hi_IN.UTF-8"}, "रीडर: कोई नहीं"), ({"LANGUAGE": "gu:en", "LANG": "C.UTF-8"},
                                                 "રીડર: કોઈ નહીં"),
    ({"LANG": "C.UTF-8"}, "readers: none"), ({}, "readers: none")])
def test_the_command_line_speaks_the_shell_language(environ: dict[str, str],
                                                    expected: str) -> None:
    _ = catalogs.from_environment(environ).gettext
    assert _("readers: %(names)s") % {"names": _("none")} == expected


def test_an_error_with_values_is_shown_in_the_readers_language() -> None:
    error = InvalidInput(N_("Card %(tag)s belongs to another driver."), params={"tag": "04AB"})
    assert error.message == "Card 04AB belongs to another driver."  # logs and the API
    tables = catalogs.load()
    assert catalogs.translate(tables["hi"], error.message) == \
        "कार्ड 04AB किसी और ड्राइवर का है।"
    assert catalogs.translate(tables["gu"], "The amount must be above zero.") == \
        "રકમ શૂન્યથી વધુ હોવી જોઈએ."
    assert catalogs.translate(tables["gu"], "not in any catalog") == "not in any catalog"
    nested = Text(N_("Could not reach the charger: %(reason)s. Unplug the cable to stop."),
                  reason=Text(N_("No such session.")))
    assert catalogs.translate(tables["hi"], nested) == \
        "चार्जर तक नहीं पहुँच सके: ऐसा कोई सेशन नहीं।। रोकने के लिए केबल निकालें।"


def test_a_note_stored_in_english_is_shown_in_the_readers_language() -> None:
    stored = str(Text(certificates.TIMED_OUT, profile=2, seconds="300"))  # what the row keeps
    assert stored == "fell back: the charger did not come back at profile 2 within 300 s"
    note = Text.recognise(stored, certificates.NOTES)
    tables = catalogs.load()
    assert catalogs.translate(tables["hi"], note) == \
        "वापस लौटा: चार्जर 300 s में प्रोफ़ाइल 2 पर वापस नहीं जुड़ा"
    assert Text.recognise("a vendor's own words", certificates.NOTES) == "a vendor's own words"
