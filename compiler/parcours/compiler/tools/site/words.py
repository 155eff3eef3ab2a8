"""Conditions in words: an IR expression as an English phrase for the documentation site.

`patient.age < 16` reads "the patient is under 16"; `visit.emergency` reads "the visit is
marked emergency"; `visit.specialty in {gynecology, ophthalmology}` reads "the visit's
specialty is one of gynecology or ophthalmology"; `a and b` reads "A, and B".  What has no
natural phrase (arithmetic, rounding, a `case`) is shown in the policy's own syntax, in
`code` quotes, so that nothing is paraphrased wrongly.  The site shows the condition as
written beside its words.
"""

from __future__ import annotations

from ...ir import nodes as n
from ...ir.printer import format_expr, format_value

# How a comparison reads: the operator, then (for an age) the words about the person.
_COMPARE = {
    n.CompareOp.EQ: "is", n.CompareOp.NE: "is not", n.CompareOp.LT: "is less than",
    n.CompareOp.LE: "is at most", n.CompareOp.GT: "is more than", n.CompareOp.GE: "is at least",
}
_AGE = {
    n.CompareOp.EQ: "is exactly {} years old", n.CompareOp.NE: "is not {} years old",
    n.CompareOp.LT: "is under {}", n.CompareOp.LE: "is {} or younger",
    n.CompareOp.GT: "is over {}", n.CompareOp.GE: "is {} or older",
}
_DATE = {
    n.CompareOp.EQ: "is", n.CompareOp.NE: "is not", n.CompareOp.LT: "is before",
    n.CompareOp.LE: "is on or before", n.CompareOp.GT: "is after",
    n.CompareOp.GE: "is on or after",
}
# `16 > patient.age` reads as `patient.age < 16`
_MIRROR = {
    n.CompareOp.EQ: n.CompareOp.EQ, n.CompareOp.NE: n.CompareOp.NE,
    n.CompareOp.LT: n.CompareOp.GT, n.CompareOp.LE: n.CompareOp.GE,
    n.CompareOp.GT: n.CompareOp.LT, n.CompareOp.GE: n.CompareOp.LE,
}


def spoken(name: str) -> str:
    """`declared_doctor` → `declared doctor`."""
    return name.replace("_", " ")


def _owner_and_field(path: str) -> tuple[str, str]:
    """`patient.age` → ("the patient", "age"); `date` → ("", "date")."""
    if "." not in path:
        return "", spoken(path)
    owner, _, rest = path.rpartition(".")
    return "the " + spoken(owner.replace(".", " ")), spoken(rest)


def noun(expr: n.Expr) -> str:
    """A value as a noun phrase: `patient.age` → "the patient's age"."""
    match expr:
        case n.Input(path=path):
            owner, field = _owner_and_field(path)
            return f"{owner}'s {field}" if owner else f"the {field}"
        case n.Const(value=value, type=type_):
            return _constant(value, type_)
        case n.ParamRef(name=name) | n.LetRef(name=name) | n.OutputRef(name=name):
            return spoken(name)
        case n.PathwayRef():
            return "the pathway"
        case n.TableRef(table=table, key=key):
            return f"{spoken(table)} for {noun(key)}"
        case _:
            return f"`{format_expr(expr)}`"


def _constant(value: n.Value, type_: n.Type) -> str:
    if isinstance(type_, n.EnumT) and isinstance(value, str):
        return spoken(value) if value.isidentifier() else f'"{value}"'
    return format_value(value, type_)


def _members(operand: n.Expr, members: frozenset[str]) -> str:
    names = [_constant(m, operand.type) for m in sorted(members)]
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


def words(expr: n.Expr | None) -> str:
    """The condition as a phrase ("always" for the default rule's missing condition)."""
    if expr is None:
        return "always (when no rule above applies)"
    return _words(expr, top=True)  # recursive: the parser bounds the depth (E105)


def _words(expr: n.Expr, top: bool = False) -> str:
    match expr:
        case n.BoolOp(op=op, operands=operands):
            parts = [_words(o) for o in operands]
            if op is n.BoolOpKind.AND:
                text = ", and ".join(parts) if len(parts) > 2 else " and ".join(parts)
                return text if top else f"({text})"
            text = " or ".join(parts)
            return f"either {text}" if top else f"(either {text})"
        case n.Not(operand=operand):
            return _negated(operand)
        case n.Input(path=path, type=n.BoolT()):
            owner, field = _owner_and_field(path)
            return f"{owner} is marked {field}" if owner else f"{field} is true"
        case n.ParamRef(name=name, type=n.BoolT()):
            return f"{spoken(name)} is switched on"
        case n.LetRef(name=name, type=n.BoolT()) | n.OutputRef(name=name, type=n.BoolT()):
            return f"{spoken(name)} holds"
        case n.Const(value=bool() as value):
            return "always" if value else "never"
        case n.Compare():
            return _compare(expr)
        case n.InSet(operand=operand, members=members, negated=negated):
            verb = "is not" if negated else "is"
            which = "one of " if len(members) > 1 else ""
            return f"{noun(operand)} {verb} {which}{_members(operand, members)}"
        case _:
            return f"`{format_expr(expr)}` holds"


def _negated(operand: n.Expr) -> str:
    match operand:
        case n.Input(path=path, type=n.BoolT()):
            owner, field = _owner_and_field(path)
            return f"{owner} is not marked {field}" if owner else f"{field} is false"
        case n.ParamRef(name=name, type=n.BoolT()):
            return f"{spoken(name)} is switched off"
        case n.LetRef(name=name, type=n.BoolT()) | n.OutputRef(name=name, type=n.BoolT()):
            return f"{spoken(name)} does not hold"
        case n.InSet(operand=inner, members=members, negated=negated):
            return _words(n.InSet(inner, members, not negated))
        case _:
            return f"it is not the case that {_words(operand)}"


def _compare(expr: n.Compare) -> str:
    left, op, right = expr.left, expr.op, expr.right
    if isinstance(right, n.Input) and not isinstance(left, n.Input):
        left, op, right = right, _MIRROR[op], left  # the episode's field first
    if isinstance(left, n.Input) and isinstance(left.type, n.IntT) and left.path.endswith(".age"):
        owner, _ = _owner_and_field(left.path)
        return f"{owner} {_AGE[op].format(noun(right))}"
    if isinstance(left.type, n.BoolT) and isinstance(right, n.Const):
        positive = (right.value is True) == (op is n.CompareOp.EQ)
        return _words(left) if positive else _negated(left)
    verbs = _DATE if isinstance(left.type, n.DateT) else _COMPARE
    return f"{noun(left)} {verbs[op]} {noun(right)}"
