"""How the columnar backend represents a value: the text of an array expression, its scale
and its bounds (`Val`), and the small conversions around it.

Money and rates are integers of a power of ten fixed at compile time (the *scale*: 2750
at scale 2 is 27.50); dates are day numbers since 1970-01-01; enum members their index.
Bounds known at compile time travel with a value, so that a rounding of a value that
cannot be negative needs no sign and a value known exactly is written as a literal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from parcours.runtime import MAX_AMOUNT

from ... import ir
from ..python.spelling import CodegenError

EPOCH = date(1970, 1, 1).toordinal()
MAX_AMOUNT_DIGITS = len(str(int(MAX_AMOUNT))) - 1  # an amount is below 10**this
MAX_SCALE = 9  # decimals a value may carry: an amount below 10**9 times 10**9 fits in int64

class Unsupported(CodegenError):
    """A construct the columnar backend does not decide yet; refused at compile time, with
    the place in the policy, rather than decided wrongly."""


def day_number(day: date) -> int:
    """Days since 1970-01-01, the columnar representation of a date."""
    return day.toordinal() - EPOCH


def scale_of(value: Decimal | int) -> int:
    if isinstance(value, int):
        return 0
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def scaled(value: Decimal | int, scale: int) -> int:
    """`value * 10**scale`, which must be a whole number."""
    shifted = Decimal(value).scaleb(scale)
    if shifted != shifted.to_integral_value():  # pragma: no cover - scales are maxima
        raise CodegenError(f"{value} is not a multiple of 10**-{scale}")
    return int(shifted)


@dataclass(frozen=True, slots=True)
class Val:
    """The text of an expression; for a number its scale, and bounds known at compile time
    on every row (at that scale; None: unbounded): a rounding of a value known to be zero
    or more needs no sign, and a value known exactly is written as a literal."""

    text: str
    scale: int = 0
    low: int | None = None
    high: int | None = None
    # A value that is a function of (key, period) only: (the key's text, "" for none;
    # how many keys; the values by key * periods + period).  Branches of such values
    # become one lookup.
    lut: tuple[str, int, tuple[int, ...]] | None = None

    @property
    def nonneg(self) -> bool:
        return self.low is not None and self.low >= 0

    def at(self, scale: int) -> Val:
        """The value at a larger scale."""
        if scale == self.scale:
            return self
        factor = 10 ** (scale - self.scale)
        text = str(self.low * factor) if self.low is not None and self.low == self.high \
            else f"({self.text} * {factor})"
        lut = None if self.lut is None else \
            (self.lut[0], self.lut[1], tuple(v * factor for v in self.lut[2]))
        return Val(text, scale, None if self.low is None else self.low * factor,
                   None if self.high is None else self.high * factor, lut)


Lut = tuple[str, int, tuple[int, ...]]


def lut_of(value: Val, periods: int) -> Lut | None:
    """The value as a function of (key, period), when it is one."""
    if value.lut is not None:
        return value.lut
    if value.low is not None and value.low == value.high:
        return ("", 1, (value.low,) * periods)
    return None


def combine(a: Lut | None, b: Lut | None, periods: int, op: Any) -> Lut | None:
    """`op` on two functions of (key, period) with the same key (or none)."""
    if a is None or b is None or (a[0] and b[0] and a[0] != b[0]):
        return None
    key, size = (a[0], a[1]) if a[0] else (b[0], b[1])

    def at(lut: Lut, k: int, p: int) -> int:
        return lut[2][(k if lut[0] else 0) * periods + p]

    return key, size, tuple(op(at(a, k, p), at(b, k, p)) for k in range(size)
                            for p in range(periods))


def literal(value: int, scale: int) -> Val:
    return Val(repr(value), scale, value, value)


def span(values: list[Val]) -> tuple[int | None, int | None]:
    """Bounds of a value that is one of `values`."""
    lows, highs = [v.low for v in values], [v.high for v in values]
    return (None if None in lows else min(x for x in lows if x is not None),
            None if None in highs else max(x for x in highs if x is not None))


def corners(a: Val, b: Val) -> tuple[int | None, int | None]:
    if None in (a.low, a.high, b.low, b.high):
        return (0, None) if a.nonneg and b.nonneg else (None, None)
    products = [x * y for x in (a.low, a.high) for y in (b.low, b.high)]  # type: ignore[operator]
    return min(products), max(products)


TRUE, FALSE = Val("np.True_"), Val("np.False_")


def numeric(type_: ir.Type) -> bool:
    return isinstance(type_, (ir.MoneyT, ir.RateT, ir.DecimalT))


def exponent_of(value: Decimal | int) -> int:
    """The exponent of the Decimal the row engine holds for a literal (`2.50`: -2)."""
    if isinstance(value, int):
        return 0
    exponent = value.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0


def index_type(count: int) -> str:
    """The dtype of the index of one of `count` rules or branches (-1: none)."""
    return "np.int8" if count < 127 else "np.int32"


def dtype_of(type_: ir.Type) -> str:
    return "np.bool_" if isinstance(type_, ir.BoolT) else "np.int64"


def is_literal(text: str) -> bool:
    """A value the same on every row: an integer literal, a module constant, a bool."""
    return text.lstrip("-").isdigit() or text in ("np.True_", "np.False_") or \
        (text.startswith("_") and text.isidentifier())
