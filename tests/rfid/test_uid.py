"""UID forms: known cards in each form, any input either formats or raises our error, and "learn
from a charger" finds the form that produced a tag."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.errors import ReaderError
from appliance.rfid_reader.uid import (
    ID_TAG_MAX,
    ByteOrder,
    Case,
    Encoding,
    UidForm,
    UidFormError,
    format_uid,
    learn_forms,
)

CARD = bytes.fromhex("04A1B2C3")


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        (UidForm(), "04A1B2C3"),
        (UidForm(case=Case.LOWER), "04a1b2c3"),
        (UidForm(byte_order=ByteOrder.REVERSED), "C3B2A104"),
        (UidForm(encoding=Encoding.DEC10), "0077705923"),  # 0x04A1B2C3
        (UidForm(encoding=Encoding.DEC10, byte_order=ByteOrder.REVERSED), "3283263748"),
        (UidForm(encoding=Encoding.DEC8), "16145763"),  # facility 0xA1, card 0xB2C3
        (UidForm(encoding=Encoding.DEC), "77705923"),
        (UidForm(prefix="DESK-", suffix="!"), "DESK-04A1B2C3!"),
    ],
)
def test_known_card_in_each_form(form: UidForm, expected: str) -> None:
    assert format_uid(CARD, form) == expected


def test_em4100_card_number_is_the_last_four_bytes() -> None:
    # 125 kHz cards print "0005645872" for data 01 00 56 26 30 (version byte, then the number)
    assert format_uid(bytes.fromhex("0100562630"), UidForm(encoding="dec10")) == "0005645872"  # type: ignore[arg-type]


def test_settings_strings_become_enums() -> None:
    form = UidForm("hex", "lower", "reversed")  # type: ignore[arg-type]
    assert form.encoding is Encoding.HEX and form.byte_order is ByteOrder.REVERSED


@pytest.mark.parametrize(
    "kwargs",
    [
        {"encoding": "octal"},
        {"case": "title"},
        {"byte_order": "middle"},
        {"prefix": "A B"},
        {"suffix": "é"},
        {"prefix": "X" * ID_TAG_MAX},
    ],
)
def test_bad_forms_are_refused(kwargs: dict[str, str]) -> None:
    with pytest.raises(UidFormError):
        UidForm(**kwargs)  # type: ignore[arg-type]


def test_too_long_for_an_id_tag() -> None:
    with pytest.raises(UidFormError, match="20"):
        format_uid(bytes(10), UidForm(prefix="CARD-"))
    with pytest.raises(UidFormError):
        format_uid(b"", UidForm())


def test_learn_prefers_forms_without_fixed_text() -> None:
    forms = learn_forms(CARD, "0077705923")
    assert forms[0] == UidForm(encoding=Encoding.DEC10)
    assert learn_forms(CARD, "c3b2a104") == [UidForm(case=Case.LOWER, byte_order="reversed")]  # type: ignore[arg-type]
    assert learn_forms(CARD, "ID04A1B2C3") == [UidForm(prefix="ID")]


def test_learn_finds_nothing_for_another_card() -> None:
    assert learn_forms(CARD, "DEADBEEF") == []
    assert learn_forms(CARD, "") == []


uids = st.binary(min_size=1, max_size=10)
affixes = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=6)
forms = st.builds(
    UidForm,
    st.sampled_from(Encoding),
    st.sampled_from(Case),
    st.sampled_from(ByteOrder),
    affixes,
    affixes,
)


@given(st.binary(max_size=14), forms)
def test_any_uid_formats_or_raises_our_error(uid: bytes, form: UidForm) -> None:
    try:
        text = format_uid(uid, form)
    except ReaderError:
        return
    assert 0 < len(text) <= ID_TAG_MAX and text.isascii()


@given(uids, forms)
def test_learn_round_trip(uid: bytes, form: UidForm) -> None:
    try:
        sent = format_uid(uid, form)
    except UidFormError:
        return
    learned = learn_forms(uid, sent)
    assert form in learned
    assert all(format_uid(uid, other) == sent for other in learned)


@given(uids, st.text(max_size=24))
def test_learn_any_text_never_fails(uid: bytes, sent: str) -> None:
    for form in learn_forms(uid, sent):
        assert format_uid(uid, form) == sent
