"""What page forms share: amounts typed by people, in major units."""

from __future__ import annotations

import re
from decimal import Decimal
from gettext import gettext

from babel.numbers import get_currency_symbol

from appliance.billing.pricing import minor_exponent
from appliance.errors import InvalidInput

# ASCII digits only, thousands separators between digit groups, one decimal point: what a
# person types for an amount. No exponent ("1e9"), no sign, no NaN, no other scripts' digits.
_AMOUNT = re.compile(r"[0-9]+(?:,[0-9]+)*(?:\.[0-9]+)?|\.[0-9]+", re.ASCII)


def _strip_currency(text: str, currency: str) -> str:
    text = text.strip()
    for sign in (currency, get_currency_symbol(currency, locale="en"), "₹", "$", "€", "£"):
        if sign and text.upper().startswith(sign.upper()):
            return text[len(sign):].strip()
    return text


def parse_amount(text: str, currency: str, field: str = "amount", *,
                 allow_zero: bool = False) -> int:
    """A money amount typed in major units ("500", "₹ 500.50", "1,000") as integer minor
    units; anything else is refused with the field named."""
    digits = minor_exponent(currency)
    raw = _strip_currency(text if isinstance(text, str) else "", currency)
    if not _AMOUNT.fullmatch(raw):
        raise InvalidInput(gettext("Type an amount like 500 or 500.50."),
                           details={"field": field})
    value = Decimal(raw.replace(",", ""))
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidInput(gettext("The amount must be above zero."), details={"field": field})
    if -value.as_tuple().exponent > digits:  # type: ignore[operator]
        raise InvalidInput(gettext("At most %(digits)d decimals in %(currency)s.")
                           % {"digits": digits, "currency": currency}, details={"field": field})
    return int(value.scaleb(digits))
