"""The IR's types and operators: what every expression node is typed by and built from.

Operators, rounding modes and min/max are closed `StrEnum`s (their values are the policy
language's spellings), so that a `match` ending in `assert_never` makes mypy name every
place a new member must be handled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

__all__ = ["BoolT", "IntT", "DateT", "MoneyT", "RateT", "DecimalT", "EnumT", "IdT", "ID_MAX_LENGTH", "SetT", "Type", "Value", "BoolOpKind", "CompareOp", "ArithOp", "DateUnit", "RoundMode", "MinMaxFn"]

# ---- types -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BoolT:
    def __str__(self) -> str:
        return "bool"


@dataclass(frozen=True, slots=True)
class IntT:
    low: int | None = None
    high: int | None = None

    def __str__(self) -> str:
        if self.low is None and self.high is None:
            return "int"
        return f"int[{self.low}..{self.high}]"


@dataclass(frozen=True, slots=True)
class DateT:
    def __str__(self) -> str:
        return "date"


@dataclass(frozen=True, slots=True)
class MoneyT:
    currency: str
    exact: bool = True  # False: a product not yet rounded to the cent

    def __str__(self) -> str:
        return f"money {self.currency}" if self.exact else f"unrounded money {self.currency}"


@dataclass(frozen=True, slots=True)
class RateT:
    def __str__(self) -> str:
        return "rate"


@dataclass(frozen=True, slots=True)
class DecimalT:
    """An exact decimal that is neither money nor a rate (a coefficient, weighted sessions)."""

    def __str__(self) -> str:
        return "decimal"


@dataclass(frozen=True, slots=True)
class EnumT:
    name: str
    members: tuple[str, ...]

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class IdT:
    """A person's or a household's id: optional; only an accumulator's key reads it."""

    def __str__(self) -> str:
        return "id"


ID_MAX_LENGTH = 200


@dataclass(frozen=True, slots=True)
class SetT:
    enum: EnumT

    def __str__(self) -> str:
        return f"set of {self.enum.name}"


Type = BoolT | IntT | DateT | MoneyT | RateT | EnumT | SetT | DecimalT | IdT
Value = bool | int | Decimal | date | str | frozenset[str]

# ---- operators ---------------------------------------------------------------
# Each is a closed enum (its value is the policy language's spelling), so that a `match`
# ending in `assert_never` makes mypy name every place a new member must be handled.


class BoolOpKind(StrEnum):
    AND = "and"
    OR = "or"


class CompareOp(StrEnum):
    EQ = "=="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


class ArithOp(StrEnum):
    ADD = "+"
    SUB = "-"
    MUL = "*"
    DIV = "/"  # only as the operand of a Round: a quotient is always rounded by name


class DateUnit(StrEnum):
    """What `DateDiff` counts: whole years (an age) or days."""

    YEARS = "years"
    DAYS = "days"


class RoundMode(StrEnum):
    HALF_UP = "half_up"
    HALF_EVEN = "half_even"
    DOWN = "down"
    UP = "up"


class MinMaxFn(StrEnum):
    MIN = "min"
    MAX = "max"
