"""Card UIDs and their id tag forms: raw UID bytes -> the id tag string a charger would send, and
"learn from a charger", which finds the forms that turn a UID into what a charger sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from itertools import product

from appliance.errors import ReaderError

# OCPP 1.6 idToken is CiString20: whatever form we produce must fit, or a charger would refuse it.
ID_TAG_MAX = 20
# ISO 14443 UIDs are 4, 7 or 10 bytes; EM4100 gives 5. Anything longer is not a card UID.
UID_MAX_BYTES = 10


class UidFormError(ReaderError):
    """A UID cannot be written in the asked form, or the form itself is not valid."""

    code = "reader_uid_form"


class Encoding(StrEnum):
    """How the (byte-ordered) UID becomes digits.

    - `hex`: every byte as two hex digits (the most common charger form).
    - `dec10`: the last 4 bytes as an unsigned big-endian integer, zero-padded to 10 digits (what
      125 kHz readers print on the card and many chargers send for 4-byte MIFARE UIDs).
    - `dec8`: "8H10D": the last 3 bytes as facility (1 byte, 3 digits) + card (2 bytes, 5 digits),
      the Wiegand-26 style number printed on many proximity cards.
    - `dec`: the whole UID as one unsigned big-endian integer, not padded.
    """

    HEX = "hex"
    DEC10 = "dec10"
    DEC8 = "dec8"
    DEC = "dec"


class ByteOrder(StrEnum):
    """`normal` is the order the card gives (UID0 first, as `FF CA` returns it); some chargers
    send it `reversed` (they read the UID as a little-endian number)."""

    NORMAL = "normal"
    REVERSED = "reversed"


class Case(StrEnum):
    UPPER = "upper"
    LOWER = "lower"


def _check_affix(name: str, text: str) -> None:
    # Printable ASCII without spaces: idTags travel in JSON and are compared case-insensitively.
    if not all("!" <= ch <= "~" for ch in text):
        raise UidFormError(f"uid {name} may hold only printable ASCII without spaces: {text!r}")
    if len(text) > ID_TAG_MAX - 1:
        raise UidFormError(f"uid {name} is too long for a {ID_TAG_MAX}-character id tag")


@dataclass(frozen=True)
class UidForm:
    """One way of writing a UID as an id tag. The default is upper-case hex in card order."""

    encoding: Encoding = field(default=Encoding.HEX, metadata={"help": "hex, dec10, dec8 or dec"})
    case: Case = field(default=Case.UPPER, metadata={"help": "hex letters: upper or lower"})
    byte_order: ByteOrder = field(
        default=ByteOrder.NORMAL, metadata={"help": "normal (as the card gives it) or reversed"}
    )
    prefix: str = field(default="", metadata={"help": "fixed text before the UID"})
    suffix: str = field(default="", metadata={"help": "fixed text after the UID"})

    def __post_init__(self) -> None:
        # Coerce plain strings from settings files into the enums, refusing unknown values early.
        for name, kind in (("encoding", Encoding), ("case", Case), ("byte_order", ByteOrder)):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, kind(value))
            except ValueError as err:
                allowed = ", ".join(member.value for member in kind)
                raise UidFormError(f"uid {name} {value!r} is not one of: {allowed}") from err
        if self.encoding is not Encoding.HEX:  # case means nothing for digits: one form, not two
            object.__setattr__(self, "case", Case.UPPER)
        _check_affix("prefix", self.prefix)
        _check_affix("suffix", self.suffix)

    def describe(self) -> str:
        """A short human label, for the "learn from a charger" choice list."""
        parts = [self.encoding.value]
        if self.encoding is Encoding.HEX:
            parts.append(self.case.value)
        parts.append(self.byte_order.value)
        if self.prefix:
            parts.append(f"prefix {self.prefix!r}")
        if self.suffix:
            parts.append(f"suffix {self.suffix!r}")
        return ", ".join(parts)


@dataclass(frozen=True)
class TagRead:
    """One card read by any backend: its raw UID and the reader (PC/SC name or serial port)."""

    uid: bytes
    reader: str = ""


def check_uid(uid: bytes) -> bytes:
    """Return `uid` if it can be a card UID, else raise UidFormError."""
    if not 1 <= len(uid) <= UID_MAX_BYTES:
        raise UidFormError(f"a card UID has 1 to {UID_MAX_BYTES} bytes, not {len(uid)}")
    return uid


def _core(uid: bytes, form: UidForm) -> str:
    ordered = uid[::-1] if form.byte_order is ByteOrder.REVERSED else uid
    if form.encoding is Encoding.HEX:
        text = ordered.hex()
        return text.upper() if form.case is Case.UPPER else text
    if form.encoding is Encoding.DEC10:
        return f"{int.from_bytes(ordered[-4:], 'big'):010d}"
    if form.encoding is Encoding.DEC8:
        tail = ordered[-3:].rjust(3, b"\0")
        return f"{tail[0]:03d}{int.from_bytes(tail[1:], 'big'):05d}"
    return str(int.from_bytes(ordered, "big"))


def format_uid(uid: bytes, form: UidForm) -> str:
    """The id tag for `uid` in `form`; UidFormError if the UID is not one or it would not fit."""
    text = form.prefix + _core(check_uid(uid), form) + form.suffix
    if len(text) > ID_TAG_MAX:
        raise UidFormError(
            f"UID {uid.hex().upper()} as {form.describe()} is {len(text)} characters; "
            f"an id tag holds {ID_TAG_MAX}"
        )
    return text


def _bare_forms() -> list[UidForm]:
    forms = []
    for encoding, order, case in product(Encoding, ByteOrder, Case):
        if encoding is not Encoding.HEX and case is Case.LOWER:
            continue  # case means nothing for digits; one form each is enough
        forms.append(UidForm(encoding=encoding, case=case, byte_order=order))
    return forms


def learn_forms(uid: bytes, sent: str) -> list[UidForm]:
    """Every form that turns `uid` into exactly `sent` (what a charger sent for the same card).

    Forms without prefix or suffix come first, then by how little fixed text they need, so the
    first is the one to offer staff. An empty list means the card and the tag do not match."""
    check_uid(uid)
    found: list[UidForm] = []
    for bare in _bare_forms():
        core = _core(uid, bare)
        start = sent.find(core)
        while start >= 0:  # every place: a prefix may itself contain the digits
            prefix, suffix = sent[:start], sent[start + len(core) :]
            try:
                form = UidForm(bare.encoding, bare.case, bare.byte_order, prefix, suffix)
                if format_uid(uid, form) == sent and form not in found:
                    found.append(form)
            except UidFormError:
                pass  # e.g. the charger's text has a space: no form of ours produces it
            start = sent.find(core, start + 1)
    found.sort(key=lambda form: len(form.prefix) + len(form.suffix))
    return found
