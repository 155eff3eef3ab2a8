"""Regions in the user's terms: a representative episode inside a region (the
counterexample a finding carries) and the region in words."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from .. import ir
from .regions import Domain, Region, root, to_units, unscale


def pick(program: ir.Program, item: ir.InputDef, dom: Domain) -> object:
    """A representative value of `dom`, preferring the input's default and typical values."""
    t = item.type
    if item.default is not None:
        d = item.default.value
        if isinstance(dom, frozenset) and d in dom:
            return d
        if isinstance(dom, tuple) and not isinstance(d, (bool, frozenset, str)):
            units = to_units(t, d)
            if dom[0] <= units <= dom[1]:
                return unscale(t, int(units))
    if isinstance(dom, frozenset):
        if isinstance(t, ir.BoolT):
            return False if False in dom else True
        if isinstance(t, ir.EnumT):
            return next(m for m in t.members if m in dom)
        return sorted(dom, key=str)[0]
    lo, hi = dom
    if isinstance(t, ir.MoneyT):
        typical = 3000
        return unscale(t, typical if lo <= typical <= hi else lo)
    if isinstance(t, ir.IntT):
        typical = 40
        return typical if lo <= typical <= hi else lo
    return unscale(t, lo)


def json_value(value: object) -> object:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def example(program: ir.Program, region: Region, **fixed: object) -> dict[str, object]:
    """A full contract episode (nested JSON object) inside `region`."""
    episode: dict[str, object] = {}
    for item in program.inputs:
        if isinstance(item.type, ir.IdT):
            continue  # an id is optional, and no decision reads it
        value = fixed[item.path] if item.path in fixed else pick(program, item, region.get(item.path))
        target = episode
        *owners, last = item.path.split(".")
        for owner in owners:
            target = target.setdefault(owner, {})  # type: ignore[assignment]
        target[last] = json_value(value)
    return episode


def describe(program: ir.Program, region: Region, full: Region | None = None) -> str:
    """The region in words: only the inputs it restricts."""
    full = full or root(program)
    parts = []
    for item in program.inputs:
        dom, whole = region.get(item.path), full.get(item.path)
        if dom == whole:
            continue
        parts.append(describe_domain(item, dom, whole))
    for expr, holds in region.assumed:
        parts.append(("" if holds else "not ") + ir.format_expr(expr))
    return ", ".join(parts) or "every episode"


def describe_domain(item: ir.InputDef, dom: Domain, whole: Domain) -> str:
    name, t = item.path, item.type
    if isinstance(dom, frozenset):
        if isinstance(t, ir.BoolT):
            return name if True in dom else f"not {name}"
        assert isinstance(whole, frozenset)
        order = list(t.members) if isinstance(t, ir.EnumT) else sorted(whole, key=str)
        if len(dom) == 1:
            return f"{name} {next(iter(dom))}"
        rest = [m for m in order if m in whole and m not in dom]
        if len(rest) < len(dom):
            return f"{name} not in {{{', '.join(str(m) for m in rest)}}}"
        return f"{name} in {{{', '.join(str(m) for m in order if m in dom)}}}"
    assert isinstance(whole, tuple)
    lo, hi = dom

    def show(units: int) -> str:
        return str(unscale(t, units))

    if isinstance(t, ir.DateT):
        if lo == hi:
            return f"{name} {show(lo)}" if name != "date" else f"on {show(lo)}"
        prefix = "" if name == "date" else f"{name} "
        if lo == whole[0]:
            return f"{prefix}until {show(hi)}"
        if hi == whole[1]:
            return f"{prefix}from {show(lo)}"
        return f"{prefix}from {show(lo)} to {show(hi)}"
    if lo == hi:
        return f"{name} {show(lo)}"
    if lo == whole[0]:
        return f"{name} <= {show(hi)}"
    if hi == whole[1]:
        return f"{name} >= {show(lo)}"
    return f"{name} {show(lo)}..{show(hi)}"
