"""Exact money and rates: Decimal only, money to its currency's minor unit, named rounding."""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal

from .errors import EpisodeError, quoted, shown

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# The minor units of currencies (ISO 4217), the one definition: how many decimals an amount
# in the currency has.  Policy literals, episode amounts, overrides and decisions all follow it.
MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(("EUR", "MAD", "GBP", "USD", "CHF", "CAD", "AUD", "NZD", "SEK", "NOK",
                     "DKK", "PLN", "CZK", "HUF", "RON", "BGN", "TRY", "EGP", "DZD", "ZAR",
                     "NGN", "KES", "GHS", "INR", "PKR", "BRL", "MXN", "ARS", "CNY", "HKD",
                     "SGD", "ILS", "SAR", "AED", "QAR", "RUB", "UAH", "THB", "MYR", "PHP",
                     "LBP", "MRU"), 2),
    **dict.fromkeys(("TND", "KWD", "JOD", "BHD", "OMR", "LYD", "IQD"), 3),
    **dict.fromkeys(("JPY", "KRW", "XOF", "XAF", "XPF", "CLP", "ISK", "VND", "UGX", "RWF",
                     "GNF", "KMF", "DJF", "PYG", "VUV"), 0),
}


def unit_of(decimals: int) -> Decimal:
    """The smallest amount of a currency with `decimals` minor digits: 0.01, 0.001, 1."""
    return Decimal(1).scaleb(-decimals)


def unit_text(decimals: int, currency: str = "") -> str:
    """The unit as it reads in a message: `0.01 EUR`, `0.001 TND`, `1 JPY`."""
    return f"{unit_of(decimals)} {currency}".rstrip()


# The money limit, the one definition: an amount is below it (inputs, overrides, policy
# literals; the generated modules' fast path and the verifier's domains derive from it).
MAX_AMOUNT = Decimal("1000000000")
# The rounding modes, the one definition: the IR's RoundMode values → `decimal`'s constants
# (whose values are their own names, so a code generator can import them by value).
ROUNDING: dict[str, str] = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN,
                            "down": ROUND_DOWN, "up": ROUND_UP}


# The only text an amount or a rate may be written as: ASCII digits, an optional
# fraction, an optional leading minus (then rejected as negative, by name).  No spaces,
# no underscores, no other scripts' digits, no exponent, no NaN or Infinity.
DECIMAL_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?").fullmatch


class ExponentNumber:
    """A JSON number written with an exponent (`1e1`): kept as its text, never an amount."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"ExponentNumber({self.text!r})"


def json_number(text: str) -> Decimal | ExponentNumber:
    """`parse_float` for episodes: a JSON number with a fraction, exactly; one with an
    exponent stays text, so that it is rejected by the field that holds it."""
    if "e" in text or "E" in text:
        return ExponentNumber(text)
    return Decimal(text)


def parse_decimal(value: object) -> Decimal | None:
    """A JSON number or string as an exact Decimal; None when it is not one.

    A string must be ASCII decimal text (`DECIMAL_TEXT`).  A bool is not a number.
    A float (from a JSON decoder run without ``parse_float=Decimal``) is taken by
    its shortest repr, which is the decimal the JSON text held.
    """
    if type(value) is Decimal:
        result = value
    elif type(value) is str:
        if DECIMAL_TEXT(value) is None:
            return None
        result = Decimal(value)
    elif type(value) is int:
        result = Decimal(value)
    elif type(value) is float:
        result = Decimal(repr(value))
    else:
        return None
    return result if result.is_finite() else None


def to_money(value: object, episode_id: object, field: str, decimals: int = 2,
             currency: str = "") -> Decimal:
    """A non-negative amount exact to the currency's unit (`decimals` places, 2: the cent),
    or an EpisodeError naming the field."""
    amount = parse_decimal(value)
    if amount is None:
        if value is None:
            raise EpisodeError(episode_id, field, "missing (an amount is required)")
        raise EpisodeError(episode_id, field,
                           f"expected an amount such as \"30.00\", got {describe(value)}")
    if amount < 0:
        raise EpisodeError(episode_id, field, f"an amount cannot be negative ({shown(amount)})")
    if amount >= MAX_AMOUNT:
        raise EpisodeError(episode_id, field, f"amount {shown(amount)} is out of range")
    units = amount.quantize(CENT if decimals == 2 else unit_of(decimals))
    if units != amount:
        raise EpisodeError(episode_id, field, f"amount {shown(amount)} has fractions of the "
                           f"currency's unit ({unit_text(decimals, currency)})")
    return units.copy_abs()  # "-0.00" is zero


def to_rate(value: object, episode_id: object, field: str) -> Decimal:
    """A rate between 0 and 1 (a JSON number or string), or an EpisodeError naming the field."""
    rate = parse_decimal(value)
    if rate is None or not 0 <= rate <= 1:
        got = "missing" if value is None else describe(value)
        raise EpisodeError(episode_id, field, f"expected a rate between 0 and 1, got {got}")
    return rate.copy_abs()  # "-0" is zero


def format_money(amount: Decimal, decimals: int = 2) -> str:
    """The amount with its currency's number of decimals: `5.95` (EUR), `15.500` (TND)."""
    return f"{amount:.{decimals}f}"


def format_rate(rate: Decimal) -> str:
    """At least two decimals ("0.70", "1.00"), more when the rate has them ("0.955")."""
    two = f"{rate:.2f}"
    return two if Decimal(two) == rate else format(rate.normalize(), "f")


def describe(value: object) -> str:
    """How a JSON value reads in an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, (int, float, Decimal)):
        return f"a number ({shown(value)})"
    if isinstance(value, ExponentNumber):
        return f"a number in exponent notation ({shown(value.text)})"
    if isinstance(value, str):
        return f"a string ({quoted(value)})"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__
