"""What page forms share: amounts typed by people, in major units."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from appliance.billing.pricing import minor_exponent
from appliance.errors import InvalidInput


def parse_amount(text: str, currency: str, field: str = "amount") -> int:
    """A money amount typed in major units ("500", "500.50") as integer minor units."""
    digits = minor_exponent(currency)
    try:
        value = Decimal(text.strip().replace(",", ""))
    except (InvalidOperation, AttributeError) as err:
        raise InvalidInput(f"{field}: type an amount like 500 or 500.50",
                           details={"field": field}) from err
    if not value.is_finite() or value <= 0:
        raise InvalidInput(f"{field}: the amount must be above zero", details={"field": field})
    # A finite Decimal's exponent is an int (the Literal letters are NaN and infinity).
    if -value.as_tuple().exponent > digits:  # type: ignore[operator]
        raise InvalidInput(f"{field}: at most {digits} decimals in {currency}",
                           details={"field": field})
    return int(value.scaleb(digits))
