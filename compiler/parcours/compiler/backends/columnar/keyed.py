"""Tables keyed by several values or by a bool, an output looked up by its branch and key,
and the digits of a decimal output, in the columnar backend (functions of the emitter,
`emit._Emitter`).

A keyed table's key is the index of a combination in the key enum (`ops.key_members`:
the first column varies slowest, a bool's `true` before its `false`), in mixed radix.
A decimal output is written as the row engine writes its Decimal (`format(value, "f")`),
whose digits follow the exponents of the operands (`2 × 1.5` is `3.0`, `2 × 1.25`
`2.50`): the exponent is followed alongside the value (a literal, or a lookup for a
table or a dated parameter whose values have different digits), and the decision's
text is the value with those digits.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ... import ir
from ..python.spelling import ident
from .values import FALSE, TRUE, Val, exponent_of, is_literal, literal, lut_of, numeric


def table_key(em: Any, e: ir.TableKey) -> Val:
    """The index of a combination in the key enum (`ops.key_members`: the first column
    varies slowest, a bool's `true` before its `false`), mixed radix."""
    terms: list[str] = []
    constant, stride = 0, 1
    for part, column in reversed(list(zip(e.parts, e.columns))):
        value = em.expr(part)
        if isinstance(column, ir.BoolT):
            if value in (TRUE, FALSE):
                constant += stride * (0 if value == TRUE else 1)
            else:
                terms.append(f"np.intp({stride}) * np.logical_not({value.text})"
                             if stride > 1 else f"np.logical_not({value.text}).view(np.int8)")
            size = 2
        else:
            if value.text.isdigit():
                constant += stride * int(value.text)
            else:
                terms.append(f"np.intp({stride}) * {value.text}" if stride > 1
                             else value.text)
            size = len(column.members)
        stride *= size
    if not terms:
        return literal(constant, 0)
    if constant:  # an np.intp: added to a code kept in a byte, a Python int must fit it
        terms.append(f"np.intp({constant})")
    text = terms[0] if len(terms) == 1 else "(" + " + ".join(reversed(terms)) + ")"
    key: Val = em.bind(text, 0, 0, stride - 1)
    return key


def exponent(em: Any, e: ir.Expr) -> str | None:
    """The exponent of the Decimal the row engine computes for `e` (what a decimal
    output's text shows: `3.0` and `3.00` are two texts), as an integer literal or an
    array's text; None when it depends on what this backend does not follow (an
    input's digits, a min or max)."""
    if isinstance(e.type, ir.IntT):
        return "0"
    n = len(em.periods)
    match e:
        case ir.Const(value=int() | Decimal() as value) if not isinstance(value, bool):
            return repr(exponent_of(value))
        case ir.ParamRef():
            prm = em.p.param(e.name)
            values = em.per_period(prm.values) if prm.dated else [prm.values[0].value.value]
            exps = [exponent_of(v) for v in values if isinstance(v, (int, Decimal))]
            if len(exps) != len(values):
                return None
            if len(set(exps)) == 1:
                return repr(exps[0])
            name = em.const(f"np.array({exps!r}, dtype=np.int64)", prm.name, "EXP")
            return f"{name}[period]"
        case ir.TableRef():
            table = em.p.table(e.table)
            rows: dict[str, list[ir.Value]] = {}
            for row in table.rows:
                for k in row.keys:
                    rows[k] = em.per_period(row.values)
            grid = [rows[m] for m in table.key.members]
            exps = [exponent_of(v) for r in grid for v in r if isinstance(v, (int, Decimal))]
            if len(exps) != len(grid) * n:
                return None
            if len(set(exps)) == 1:
                return repr(exps[0])
            key = em.expr(e.key).text
            name = em.const(f"np.array({exps!r}, dtype=np.int64)", table.name, "EXP")
            return f"{name}[np.intp({n}) * {key} + period]" if n > 1 else f"{name}[{key}]"
        case ir.LetRef():
            return exponent(em, em.p.let(e.name).expr)
        case ir.OutputRef():
            return output_exponent(em, em.p.output(e.name))
        case ir.Arith(op=ir.ArithOp.ADD | ir.ArithOp.SUB | ir.ArithOp.MUL):
            left, right = exponent(em, e.left), exponent(em, e.right)
            if left is None or right is None:
                return None
            if e.op is ir.ArithOp.MUL:
                if is_literal(left) and is_literal(right) and left.lstrip("-").isdigit() \
                        and right.lstrip("-").isdigit():
                    return repr(int(left) + int(right))
                return f"({left} + {right})"
            if left.lstrip("-").isdigit() and right.lstrip("-").isdigit():
                return repr(min(int(left), int(right)))
            return f"np.minimum({left}, {right})"
        case ir.Round():
            return repr(exponent_of(e.quantum)) if isinstance(e.quantum, Decimal) else None
        case ir.Case():
            found = [exponent(em, arm) for _, arm in e.arms] + [exponent(em, e.default)]
            texts = [t for t in found if t is not None]
            if len(texts) != len(found):
                return None
            text = texts[-1]
            for (condition, _), arm_text in reversed(list(zip(e.arms, texts))):
                holds = em.expr(condition)
                if holds == TRUE:
                    text = arm_text
                elif holds != FALSE:
                    text = f"np.where({holds.text}, {arm_text}, {text})"
            return text
        case _:
            return None


def output_exponent(em: Any, out: ir.Output) -> str | None:
    """A decimal output's exponent: its branch's (`b_NAME` says which)."""
    texts = [exponent(em, b.value) for b in out.branches]
    if any(t is None for t in texts):
        return None
    if len(set(texts)) == 1:
        return texts[0]
    branch = ident("b", out.name)
    text = "0"
    for i, t in reversed(list(enumerate(texts))):
        text = f"np.where({branch} == {i}, {t}, {text})"
    return text


def branch_lookup(em: Any, out: ir.Output, var: str, branch: str,
                  values: dict[int, Val]) -> bool:
    """When every branch's value is a function of one key and the period (constants,
    dated parameters, a table by one enum input, sums and products of those): the
    output as one lookup by (branch, key, period) in a table computed here."""
    n = len(em.periods)
    luts = {i: lut_of(v, n) for i, v in values.items()}
    keys = {lut[0] for lut in luts.values() if lut is not None and lut[0]}
    if not numeric(out.type) and not isinstance(out.type, ir.IntT) or \
            any(lut is None for lut in luts.values()) or len(keys) > 1 or \
            all(v.lut is None for v in values.values()):
        return False
    key = next(iter(keys), "")
    size = next((lut[1] for lut in luts.values() if lut and lut[0]), 1)
    if len(out.branches) * size * n > 1 << 16:
        return False
    table: list[int] = []
    for i in range(len(out.branches)):
        lut = luts.get(i)
        for k in range(size):
            for p in range(n):
                table.append(0 if lut is None else lut[2][(k if lut[0] else 0) * n + p])
    name = em.const(f"np.array([{', '.join(map(str, table))}], dtype=np.int64)",
                    out.name, "VALUES")
    # np.intp first: a branch index is int8, which the products would overflow
    index = f"(np.intp({size}) * {branch} + {key})" if key else branch
    em.line(f"{var} = {name}[np.intp({n}) * {index} + period]" if n > 1 else
            f"{var} = {name}[{index}]")
    return True
