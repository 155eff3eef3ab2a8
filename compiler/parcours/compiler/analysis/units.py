"""Input values as whole numbers of units, for the regions' intervals: an amount in its
currency's minor unit (cents for EUR, thousandths for TND, the runtime's MINOR_UNITS), a
rate in millionths, a date as its day ordinal."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from parcours.runtime import MINOR_UNITS, unit_of

from .. import ir

RATE_SCALE = 10 ** 6


def scale(type_: ir.Type) -> int:
    if isinstance(type_, ir.MoneyT):
        return int(10 ** MINOR_UNITS[type_.currency])  # the currency's minor unit
    if isinstance(type_, ir.RateT):
        return RATE_SCALE
    return 1


def unscale(type_: ir.Type, units: int) -> object:
    if isinstance(type_, ir.DateT):
        return date.fromordinal(units)
    if isinstance(type_, ir.MoneyT):
        return (Decimal(units) / scale(type_)).quantize(unit_of(MINOR_UNITS[type_.currency]))
    if isinstance(type_, ir.RateT):
        return Decimal(units) / RATE_SCALE
    return units


def to_units(type_: ir.Type, value: object) -> Decimal:
    if isinstance(value, date):
        return Decimal(value.toordinal())
    assert isinstance(value, (int, Decimal)) and not isinstance(value, bool)
    return Decimal(value) * scale(type_)
