"""The columnar module's text: the emitter's body, without what nothing reads, through
`templates/module.py.jinja`, checked to parse."""

from __future__ import annotations

import ast
import re
from datetime import date
from functools import lru_cache

import jinja2

from ... import ir
from ...meta import VERSION
from ..python.spelling import CodegenError, ident, py_literal, source_file
from .emit import _Emitter
from .values import day_number, index_type

GENERATOR = f"parcours {VERSION}"


def _without_unused(body: list[str], after: str) -> list[str]:
    """The body without the temporaries nothing reads (a branch value folded into a
    lookup); a line that marks rows (`bad`) always stays."""
    kept: list[str] = []
    used = set(_TEMPORARY.findall(after))
    for line in reversed(body):
        target = _ASSIGNED.match(line)
        if target is not None and target.group(1) not in used and "bad" not in line:
            continue
        used.update(_TEMPORARY.findall(line))
        kept.append(line)
    return kept[::-1]


_TEMPORARY = re.compile(r"\b(?:t[0-9]+|l_[a-z0-9_]+)\b")
_ASSIGNED = re.compile(r"^((?:t[0-9]+|l_[a-z0-9_]+)) = ")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("parcours.compiler.backends.columnar", "templates"),
        autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
        trim_blocks=True, lstrip_blocks=True)


def generate(program: ir.Program) -> str:
    """The columnar module for `program`, checked to parse; Unsupported for a construct it
    cannot decide yet."""
    e = _Emitter(program)
    fields = e.fields()
    e.steps()
    output_specs, output_texts = e.outputs()
    e.body = _without_unused(e.body, " ".join(output_texts + list(e.exponents.values())))
    pathways = program.decision.pathway.members
    rule_pathway = e.array([r.pathway for r in program.rules], program.decision.pathway, 0)
    p = program.policy
    text = _environment().get_template("module.py.jinja").render(
        generator=GENERATOR, file=source_file(p.file), policy_id=py_literal(p.id),
        policy_name=p.id if p.id.isidentifier() else "", version=py_literal(p.version),
        currency=py_literal(p.currency), decimals=e.decimals, fields=fields,
        outputs=output_specs, output_texts=output_texts,
        output_names=[o.name for o in program.decision.outputs],
        branched=py_literal(tuple(o.name for o in program.outputs)),
        radices=py_literal((len(program.rules),) + tuple(len(o.branches) for o in program.outputs)
                           + (len(e.periods),)),
        branch_vars=[ident("b", o.name) for o in program.outputs],
        rule_names=py_literal(tuple(r.name for r in program.rules)),
        rule_pathways=py_literal(tuple(r.pathway for r in program.rules)),
        pathways=py_literal(pathways), rule_pathway=rule_pathway,
        bounds="np.array([" + ", ".join(str(day_number(d)) for d in e.periods[1:])
               + "], dtype=np.int64)",
        valid_from=day_number(p.valid_from),
        valid_until=None if p.valid_until is None else day_number(p.valid_until),
        n_periods=len(e.periods), min_day=day_number(date.min), max_day=day_number(date.max),
        body=e.body, exponents=e.exponents,
        result_types={"period": index_type(len(e.periods)),
                      "bad": "np.bool_", **e.dtypes,
                      **{name: "np.int64" for name in e.exponents}})
    constants = "\n".join(f"{name} = {literal}" for name, literal in e.constants.items())
    text = text.replace("# <constants>\n", constants + "\n", 1)
    try:
        ast.parse(text)
    except SyntaxError as exc:  # pragma: no cover - a compiler bug
        raise CodegenError(f"generated code does not parse: {exc}") from exc
    return text
