"""The IR as text: expressions in the policy language's own syntax, and a stable dump of
a whole program for golden tests and `parcours compile --emit ir`."""

from __future__ import annotations

from decimal import Decimal
from typing import assert_never

from .nodes import (Arith, ArithOp, BoolOp, BoolOpKind, Case, Compare, Const, DateAdd, DateDiff,
                    Dated, EnumT, Expr, InSet, Input, IntT, LetRef, MinMax, MoneyT, Not, Notes,
                    OutputRef, ParamRef, PathwayRef, Program, Round, TableKey, TableRef, Type,
                    Value)
from parcours.runtime import key_text


def format_value(value: Value, type_: Type | None = None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, frozenset):
        return "{" + ", ".join(sorted(value)) + "}"
    if isinstance(value, Decimal) and isinstance(type_, MoneyT):
        return f"{value} {type_.currency}"
    if isinstance(value, str) and isinstance(type_, EnumT) and not value.isidentifier():
        return f'"{value}"'
    return str(value)


_OR, _AND, _NOT, _CMP, _SUM, _PRODUCT, _ATOM = 1, 2, 3, 4, 5, 6, 9


def _arith_level(op: ArithOp) -> int:
    """The precedence of an arithmetic operator, as the grammar parses it (exhaustive)."""
    match op:
        case ArithOp.ADD | ArithOp.SUB:
            return _SUM
        case ArithOp.MUL | ArithOp.DIV:
            return _PRODUCT
        case _:
            assert_never(op)


def format_expr(expr: Expr, parent: int = 0) -> str:
    """The expression in the policy language's own syntax."""
    text, level = _format(expr)
    return f"({text})" if level < parent else text


def _format(expr: Expr) -> tuple[str, int]:
    match expr:
        case Const():
            return format_value(expr.value, expr.type), _ATOM
        case Input():
            return expr.path, _ATOM
        case ParamRef() | LetRef() | OutputRef():
            return expr.name, _ATOM
        case PathwayRef():
            return "pathway", _ATOM
        case TableRef():
            return f"{expr.table}[{format_expr(expr.key)}]", _ATOM
        case TableKey():  # inside `t[…]`: the parts, as written
            return ", ".join(format_expr(part) for part in expr.parts), _ATOM
        case Not():
            return "not " + format_expr(expr.operand, _NOT), _NOT
        case BoolOp():
            level = _OR if expr.op == BoolOpKind.OR else _AND
            return (f" {expr.op.value} ".join(format_expr(o, level + 1) for o in expr.operands),
                    level)
        case Compare():
            return (f"{format_expr(expr.left, _CMP + 1)} {expr.op.value} "
                    f"{format_expr(expr.right, _CMP + 1)}"), _CMP
        case InSet():
            op = "not in" if expr.negated else "in"
            members = ", ".join(format_value(m, expr.operand.type) for m in sorted(expr.members))
            return f"{format_expr(expr.operand, _CMP + 1)} {op} {{{members}}}", _CMP
        case Arith():
            # A chain `a + b - c` nests to the left, as long as it is: walk it, do not recurse.
            level = _arith_level(expr.op)
            rights: list[tuple[str, Expr]] = []
            node: Expr = expr
            while isinstance(node, Arith) and _arith_level(node.op) == level:
                rights.append((node.op.value, node.right))
                node = node.left
            parts = [format_expr(node, level)]
            parts += [f" {op} {format_expr(right, level + 1)}" for op, right in reversed(rights)]
            return "".join(parts), level
        case Round():
            quantum = 1 if isinstance(expr.type, IntT) else expr.quantum
            return f"round_{expr.mode.value}({format_expr(expr.operand)}, {quantum})", _ATOM
        case Case():
            arms = " ".join(f"when {format_expr(c)}: {format_expr(v)}" for c, v in expr.arms)
            return f"case {{ {arms} else: {format_expr(expr.default)} }}", _ATOM
        case DateAdd():
            # `date + 30 days` for a literal count, `add_days(date, n)` otherwise
            if isinstance(expr.days, Const) and isinstance(expr.days.value, int):
                count = expr.days.value
                sign, unit = ("-" if count < 0 else "+"), ("day" if abs(count) == 1 else "days")
                return f"{format_expr(expr.operand, _SUM)} {sign} {abs(count)} {unit}", _SUM
            return f"add_days({format_expr(expr.operand)}, {format_expr(expr.days)})", _ATOM
        case DateDiff():
            return (f"{expr.unit.value}_between({format_expr(expr.start)}, "
                    f"{format_expr(expr.end)})"), _ATOM
        case MinMax():
            operands = ", ".join(format_expr(o) for o in expr.operands)
            return f"{expr.function.value}({operands})", _ATOM
        case _:
            assert_never(expr)


def _notes(notes: Notes) -> str:
    parts = []
    if notes.cites:
        parts.append("cite " + ", ".join(notes.cites))
    parts += [f"{kind} {text!r}" for kind, text in notes.remarks]
    return ("  [" + "; ".join(parts) + "]") if parts else ""


def _dated(values: tuple[Dated, ...], indent: str) -> list[str]:
    lines = []
    for v in values:
        until = f" until {v.until}" if v.until else ""
        lines.append(f"{indent}from {v.start}{until}: "
                     f"{format_value(v.value.value, v.value.type)}{_notes(v.notes)}")
    return lines


def print_program(program: Program) -> str:
    """A stable text form of the IR, for golden tests and `compile --emit ir`."""
    p = program.policy
    lines = [f"policy {p.id} ({p.status}, {p.currency}, {p.country}) valid from {p.valid_from}"
             + (f" until {p.valid_until}" if p.valid_until else "") + _notes(p.notes)]
    lines += [f"source {s.id} = {s.document!r}" for s in program.sources]
    lines += [f"enum {e.name} = {{{', '.join(e.members)}}}" for e in program.enums]
    lines += [f"decision output {o.name}: {o.type}" + (f" totals {o.role.value}" if o.role else "")
              + (f" note {o.note!r}" if o.note else "") for o in program.decision.outputs]
    for i in program.inputs:
        default = f" = {format_value(i.default.value, i.type)}" if i.default \
            and str(i.type) != "id" else ""
        lines.append(f"input {i.path}: {i.type}{default}{_notes(i.notes)}")
    for c in program.constraints:
        lines.append(f"constraint {c.name}: {format_expr(c.condition)} requires "
                     f"{format_expr(c.requirement)}{_notes(c.notes)}")
    for prm in program.params:
        lines.append(f"param {prm.name}: {prm.type}{_notes(prm.notes)}")
        lines += _dated(prm.values, "  ")
    for t in program.tables:
        lines.append(f"table {t.name}: {t.key.name} -> {t.type}{_notes(t.notes)}")
        for row in t.rows:
            lines.append(f"  {', '.join(map(key_text, row.keys))}{_notes(row.notes)}")
            lines += _dated(row.values, "    ")
    for let in program.lets:
        lines.append(f"let {let.name}: {let.expr.type} = {format_expr(let.expr)}{_notes(let.notes)}")
    lines += [f"accumulator {a.name}: {a.type} per {', '.join(a.keys)} over {a.period} adds "
              f"{a.adds} cap {a.cap} (read from {a.field}){_notes(a.notes)}"
              for a in program.accumulators]
    lines.append("rules pathway")
    for r in program.rules:
        head = f"  default {r.name}" if r.priority is None else f"  {r.priority}. {r.name}"
        cond = f" when {format_expr(r.condition)}" if r.condition is not None else ""
        lines.append(f"{head} -> {r.pathway}{cond}{_notes(r.notes)}")
    for o in program.outputs:
        lines.append(f"output {o.name}: {o.type}{_notes(o.notes)}")
        for b in o.branches:
            cond = "else" if b.condition is None else f"when {format_expr(b.condition)}"
            lines.append(f"  {cond}: {format_expr(b.value)}{_notes(b.notes)}")
    return "\n".join(lines) + "\n"
