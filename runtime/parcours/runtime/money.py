"""Exact money and rates: Decimal only, two decimals for money, named rounding."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal, InvalidOperation

from .errors import EpisodeError

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# The money limit, the one definition: an amount is below it (inputs, overrides, policy
# literals; the generated modules' fast path and the verifier's domains derive from it).
MAX_AMOUNT = Decimal("1000000000")
# The rounding modes, the one definition: the IR's RoundMode values → `decimal`'s constants
# (whose values are their own names, so a code generator can import them by value).
ROUNDING: dict[str, str] = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN,
                            "down": ROUND_DOWN, "up": ROUND_UP}


def parse_decimal(value: object) -> Decimal | None:
    """A JSON number or string as an exact Decimal; None when it is not one.

    A bool is not a number.  A float (from a JSON decoder run without
    ``parse_float=Decimal``) is taken by its shortest repr, which is the
    decimal the JSON text held.
    """
    if isinstance(value, Decimal):
        result = value
    elif type(value) is str or type(value) is int:
        try:
            result = Decimal(value)
        except InvalidOperation:
            return None
    elif type(value) is float:
        result = Decimal(repr(value))
    else:
        return None
    return result if result.is_finite() else None


def to_money(value: object, episode_id: object, field: str) -> Decimal:
    """A non-negative amount exact to the cent, or an EpisodeError naming the field."""
    amount = parse_decimal(value)
    if amount is None:
        if value is None:
            raise EpisodeError(episode_id, field, "missing (an amount is required)")
        raise EpisodeError(episode_id, field,
                           f"expected an amount such as \"30.00\", got {describe(value)}")
    if amount < 0:
        raise EpisodeError(episode_id, field, f"an amount cannot be negative ({amount})")
    if amount >= MAX_AMOUNT:
        raise EpisodeError(episode_id, field, f"amount {amount} is out of range")
    cents = amount.quantize(CENT)
    if cents != amount:
        raise EpisodeError(episode_id, field, f"amount {amount} has fractions of a cent")
    return cents


def to_rate(value: object, episode_id: object, field: str) -> Decimal:
    """A rate between 0 and 1 (a JSON number or string), or an EpisodeError naming the field."""
    rate = parse_decimal(value)
    if rate is None or not 0 <= rate <= 1:
        shown = "missing" if value is None else describe(value)
        raise EpisodeError(episode_id, field, f"expected a rate between 0 and 1, got {shown}")
    return rate


def format_money(amount: Decimal) -> str:
    return f"{amount:.2f}"


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
        return f"a number ({value})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({shown!r})"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__
