"""Type relations and the hints that explain a type mismatch."""

from __future__ import annotations

from .. import ir

def _same_kind(a: ir.Type, b: ir.Type) -> bool:
    if isinstance(a, ir.MoneyT) and isinstance(b, ir.MoneyT):
        return True
    if isinstance(a, ir.IntT) and isinstance(b, ir.IntT):
        return True
    return a == b


def _assignable(actual: ir.Type, expected: ir.Type) -> bool:
    if isinstance(expected, ir.MoneyT):
        return isinstance(actual, ir.MoneyT) and actual.currency == expected.currency \
            and actual.exact
    if isinstance(expected, ir.IntT):
        return isinstance(actual, ir.IntT)
    if isinstance(expected, ir.DecimalT):  # a rate is a decimal (between 0 and 1)
        return isinstance(actual, (ir.DecimalT, ir.RateT))
    return actual == expected


def _describe(type_: ir.Type) -> str:
    if isinstance(type_, ir.MoneyT):
        return f"an amount in {type_.currency}" if type_.exact else \
            f"an unrounded amount in {type_.currency}"
    if isinstance(type_, ir.EnumT):
        return f"a {type_.name}"
    if isinstance(type_, ir.IntT):
        return "a whole number"
    return {"bool": "true/false", "date": "a date", "rate": "a rate",
            "decimal": "a decimal"}.get(str(type_), str(type_))


def _conversion_hint(actual: ir.Type, expected: ir.Type) -> str | None:
    if isinstance(actual, ir.MoneyT) and not actual.exact and isinstance(expected, ir.MoneyT):
        return "round it explicitly, e.g. round_half_up(base * rate, 0.01)"
    if isinstance(actual, ir.RateT) and isinstance(expected, ir.MoneyT):
        return f"a rate is not money; write an amount with its currency, e.g. 2.00 {expected.currency}"
    if isinstance(actual, ir.MoneyT) and isinstance(expected, ir.RateT):
        return "money is not a rate; a rate is a plain decimal between 0 and 1, e.g. 0.70"
    if isinstance(actual, ir.IntT) and isinstance(expected, ir.MoneyT):
        return f"an amount carries its currency, e.g. 25.00 {expected.currency}"
    if isinstance(actual, ir.IntT) and isinstance(expected, ir.DecimalT):
        return "a whole number is not a decimal: write it with a point (2.0), or multiply " \
            "it by a decimal"
    return None


def _condition_hint(type_: ir.Type) -> str | None:
    if isinstance(type_, ir.EnumT):
        return f"compare it: `… == MEMBER` or `… in {{A, B}}`"
    return "compare it with a value, e.g. `patient.age < 16`"


def _compare_hint(a: ir.Type, b: ir.Type) -> str | None:
    if isinstance(a, ir.DateT) or isinstance(b, ir.DateT):
        return "dates compare with dates written YYYY-MM-DD"
    if isinstance(a, ir.RateT) and isinstance(b, ir.MoneyT) or \
            isinstance(a, ir.MoneyT) and isinstance(b, ir.RateT):
        return "a rate is not money"
    if isinstance(a, ir.BoolT) or isinstance(b, ir.BoolT):
        return "a bool is not a number: use it directly, or `not …`"
    return None


def _arith_hint(a: ir.Type, b: ir.Type) -> str | None:
    if isinstance(a, ir.DateT) and isinstance(b, ir.DateT):
        return "count what lies between two dates: days_between(a, b) or years_between(a, b)"
    if isinstance(a, ir.DateT) and isinstance(b, ir.IntT):
        return "a number of days is written with its unit: `date + 30 days`, or add_days(date, n)"
    if isinstance(a, ir.MoneyT) and isinstance(b, ir.RateT) or \
            isinstance(a, ir.RateT) and isinstance(b, ir.MoneyT):
        return "money and rates are multiplied, not added: base * rate"
    return None
