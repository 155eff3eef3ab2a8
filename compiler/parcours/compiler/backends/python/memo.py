"""Rounded products remembered by their operands' values.

`round_half_up(base * rate, 0.01)` is the costliest step of a typical decision:
quantizing divides by powers of ten, several times the cost of a dictionary lookup.  Its
operands usually take few values whatever the episode (tariffs, rates, parameters chosen
by conditions), so the generated module looks the product up by the pair of operands and
computes it only on a miss.  An operand read from the episode (an amount, an int, a date)
takes too many values for that, and is computed as written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ... import ir
from .spelling import py_type


@dataclass(slots=True)
class MemoView:
    """One remembered product: its table and its function (on a miss) in the module."""

    table: str
    function: str
    annotation: str  # the key's type: a pair of the operands' types
    rounding: str  # applied to the product: `.quantize(Q, MODE)`


class Memos:
    """The remembered products of one program, as the emitter meets them."""

    def __init__(self, program: ir.Program) -> None:
        self.views: list[MemoView] = []
        # Whether each let and output takes few values, worked out once in evaluation order
        # (each after what it reads): a chain of thousands of lets is a loop, not a recursion.
        self.few: dict[tuple[str, str], bool] = {}
        lets = {let.name: let.expr for let in program.lets}
        outputs = {o.name: o.branches for o in program.outputs}
        for step in program.schedule:
            if isinstance(step, ir.LetStep):
                self.few["let", step.name] = self.takes_few_values(lets[step.name])
            elif isinstance(step, ir.OutputStep):
                self.few["output", step.name] = all(
                    self.takes_few_values(b.value) for b in outputs[step.name])

    def product(self, operand: ir.Expr, rounding: str, expr: Callable[[ir.Expr], str],
                fresh: Callable[..., str]) -> str | None:
        """The text of `operand` rounded, looked up first, when it is a product of two
        operands of few values; None otherwise."""
        match operand:
            case ir.Arith(op=ir.ArithOp.MUL, left=left, right=right) \
                    if self.takes_few_values(left) and self.takes_few_values(right):
                n = len(self.views)
                view = MemoView(fresh("ROUNDED", n), fresh("ROUND", n),
                                f"tuple[{py_type(left.type)}, {py_type(right.type)}]", rounding)
                self.views.append(view)
                return (f"({view.table}.get(_k{n} := ({expr(left)}, {expr(right)})) "
                        f"or {view.function}(_k{n}))")
        return None

    def takes_few_values(self, e: ir.Expr) -> bool:
        """Whether `e` takes its values from a small set whatever the episode: built from
        constants, parameters, table cells, flags and members (a condition only chooses
        among them).  An amount, an int or a date from the episode does not."""
        match e:
            case ir.Input():
                return isinstance(e.type, (ir.BoolT, ir.EnumT))
            case ir.DateAdd() | ir.DateDiff():
                return False
            case ir.LetRef():
                return self.few.get(("let", e.name), False)
            case ir.OutputRef():
                return self.few.get(("output", e.name), False)
            case ir.Case():
                return all(self.takes_few_values(value) for _, value in e.arms) \
                    and self.takes_few_values(e.default)
            case ir.Arith() | ir.Round() | ir.MinMax():
                return all(self.takes_few_values(c) for c in ir.children(e))
            case _:  # constants, parameters, table cells, the pathway, truth values
                return True
