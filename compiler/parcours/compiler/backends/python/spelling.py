"""How policy things are spelt in the generated Python: literals, identifiers, constant
names, comments that point back to the policy, types.  Everything the policy says reaches
the module through these functions (values as `repr`-built literals, names restricted to
`[A-Za-z0-9_]`, file names to `[A-Za-z0-9._-]`), so no policy text can inject code."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import PurePath

from ... import ir

IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")  # a policy name, as the grammar allows it


class CodegenError(Exception):
    """A compiler bug: the IR broke an invariant or the output did not parse."""


def py_literal(value: object) -> str:
    """A Python literal for a policy value; the only way policy data enters the module."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, Decimal):
        return f"Decimal({str(value)!r})"
    if isinstance(value, date):
        return f"date({value.year}, {value.month}, {value.day})"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, frozenset):
        return "frozenset({" + ", ".join(repr(v) for v in sorted(value)) + "})" if value \
            else "frozenset()"
    if isinstance(value, tuple):
        inner = ", ".join(py_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    raise CodegenError(f"no literal for {type(value).__name__}")


_NOT_NAME = re.compile(r"[^A-Z0-9]+")
_NOT_FILE = re.compile(r"[^A-Za-z0-9._-]")


def name_part(text: object) -> str:
    """A piece of a constant's name: upper-case `[A-Z0-9]` runs joined by `_`, never empty."""
    raw = str(text).upper()
    if raw.startswith("-"):
        raw = "MINUS_" + raw[1:]
    return _NOT_NAME.sub("_", raw).strip("_") or "K"


class _Names:
    """Fresh module-level names `_PART_PART`: valid identifiers, distinct from each other and
    from the names the template defines; a clash takes a suffix `_2`, `_3`, ..."""

    def __init__(self, reserved: set[str]) -> None:
        self.taken = set(reserved)

    def fresh(self, *parts: object) -> str:
        base = "_" + "_".join(name_part(p) for p in parts)
        name, n = base, 2
        while name in self.taken:
            name, n = f"{base}_{n}", n + 1
        self.taken.add(name)
        return name


def source_file(file: str) -> str:
    """How generated code names a policy file: its base name, in `[A-Za-z0-9._-]`, so that the
    output does not depend on the current directory and cannot break out of a comment."""
    return _NOT_FILE.sub("_", PurePath(file).name)


def where(span: object, label: str) -> str:
    """`france.parcours:73 not_a_physician`: a comment that maps code back to the policy."""
    return (f"{source_file(getattr(span, 'file'))}:{int(getattr(span, 'line'))} "
            + re.sub(r"[^A-Za-z0-9_ ]", "_", label))


def ident(prefix: str, name: str) -> str:
    if not IDENT.match(name):
        raise CodegenError(f"invalid identifier {name!r}")
    return f"{prefix}_{name}"


def py_type(type_: ir.Type) -> str:
    if isinstance(type_, ir.BoolT):
        return "bool"
    if isinstance(type_, ir.IntT):
        return "int"
    if isinstance(type_, ir.DateT):
        return "date"
    if isinstance(type_, (ir.MoneyT, ir.RateT, ir.DecimalT)):
        return "Decimal"
    if isinstance(type_, (ir.EnumT, ir.IdT)):
        return "str"
    raise CodegenError(f"no Python type for {type_}")





# What an application may pass for a field of each kind (the episode's `TypedDict`s): JSON's
# values, and a Decimal for an amount or a rate (never a float: money is exact).
_EPISODE_TYPES = {"bool": "bool", "int": "int", "date": "str", "money": "str | int | Decimal",
                  "rate": "str | int | Decimal", "id": "str"}


def episode_type(type_: ir.Type, kind: str) -> str:
    """The annotation of an episode field of `type_` (value kind `kind`): an enum's members as
    a `Literal`, so that a type checker catches a misspelt member too."""
    if isinstance(type_, ir.EnumT):
        return "Literal[" + ", ".join(py_literal(m) for m in type_.members) + "]"
    return _EPISODE_TYPES[kind]


def type_name(prefix: str, name: str, taken: set[str]) -> str:
    """`EpisodePatient` for section `patient`: CamelCase after `prefix`, distinct from `taken`."""
    base = prefix + "".join(part.capitalize() for part in ident("x", name)[2:].split("_"))
    found, n = base, 2
    while found in taken:
        found, n = f"{base}{n}", n + 1
    taken.add(found)
    return found
