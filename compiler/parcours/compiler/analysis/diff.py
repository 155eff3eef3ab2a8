"""Semantic diff of two policies: the regions of the input space where a decision changes.

One joint decision tree (see :mod:`.regions`) is grown over both programs: a leaf
is a region on which both decide every rule and every branch, so the union of
both policies' split points partitions the space.  On a leaf, each decision field
is evaluated for both programs; a field that depends on an input amount
(``visit.fee``) is evaluated at a few representative amounts of the leaf's
interval (its ends, a typical fee, the middle).  Leaves with the same change are
merged where their regions are adjacent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from .. import ir
from .examples import describe, example, json_value
from .regions import Domain, Evaluator, Region, Symbolic, Undecided, periods, scale, unscale

FIELDS = ("pathway", "rule")  # then every output either decision declares (`decision_fields`)
UNDECIDED = "(undecided)"
NOT_DECLARED = "(not declared)"


def decision_fields(old: ir.Program, new: ir.Program) -> tuple[str, ...]:
    """The fields compared: the pathway, the rule, then the declared outputs of both."""
    names = [o.name for o in old.decision.outputs] + [o.name for o in new.decision.outputs]
    return FIELDS + tuple(dict.fromkeys(names))


@dataclass(frozen=True, slots=True)
class Change:
    """One region where some decision fields differ (old → new, at the counterexample)."""

    region: Region
    changes: tuple[tuple[str, str, str], ...]  # (field, old, new)
    counterexample: dict[str, object]


@dataclass(slots=True)
class DiffResult:
    changes: list[Change]
    leaves: int
    truncated: int = 0

    @property
    def identical(self) -> bool:
        return not self.changes


def _text(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def joint_root(old: ir.Program, new: ir.Program) -> Region:
    """Every episode both policies accept: the union of inputs, the common validity."""
    from .regions import full_domain
    domains: dict[str, Domain] = {}
    for program in (new, old):  # old's domain wins when a path is declared twice
        for item in program.inputs:
            domains[item.path] = full_domain(program, item)
    lo = max(old.policy.valid_from, new.policy.valid_from).toordinal()
    ends = [p.policy.valid_until for p in (old, new) if p.policy.valid_until is not None]
    hi = min(ends).toordinal() if ends else date(9999, 12, 31).toordinal()
    domains["date"] = (lo, hi)
    order = [i.path for i in old.inputs] + [i.path for i in new.inputs
                                            if i.path not in {j.path for j in old.inputs}]
    return Region(tuple((path, domains[path]) for path in order))


def _fixed_samples(program_inputs: list[ir.InputDef], region: Region) -> list[dict[str, int]]:
    """Representative values (in units) of the numeric inputs that the region leaves open."""
    open_inputs = []
    for item in program_inputs:
        dom = region.get(item.path)
        if isinstance(dom, tuple) and dom[0] != dom[1] and not isinstance(item.type, ir.DateT):
            open_inputs.append((item, dom))
    if not open_inputs:
        return [{}]
    samples: list[dict[str, int]] = []
    for k in range(4):
        chosen: dict[str, int] = {}
        for item, (lo, hi) in open_inputs:
            typical = 30 * scale(item.type) if isinstance(item.type, (ir.MoneyT,)) else 40
            candidates = [min(max(typical, lo), hi), lo, hi, (lo + hi) // 2]
            chosen[item.path] = candidates[k]
        samples.append(chosen)
    return samples


def _fields(ev: Evaluator, fields: tuple[str, ...]) -> dict[str, object]:
    try:
        rule = ev.p.rules[ev.rule_index()]
        out: dict[str, object] = {"pathway": rule.pathway, "rule": rule.name}
        declared = {o.name: o for o in ev.p.outputs}
        for name in fields[2:]:
            output = declared.get(name)
            out[name] = (NOT_DECLARED if output is None
                         else ev.value(ir.OutputRef(name, output.type)))
        return out
    except Undecided:
        return {name: UNDECIDED for name in fields}


def _same_definitions(old: ir.Program, new: ir.Program,
                      names: tuple[str, ...]) -> dict[str, frozenset[str]]:
    """The decision fields defined alike in both programs from inputs and other decision
    fields only (e.g. ``patient_pays = visit.fee - reimbursed``): field → the fields it
    reads.  Where those are equal, it is equal at every input amount."""
    out: dict[str, frozenset[str]] = {}
    old_outputs = {o.name: o for o in old.outputs}
    new_outputs = {o.name: o for o in new.outputs}
    for name in names[2:]:
        if name not in old_outputs or name not in new_outputs:
            continue
        a, b = old_outputs[name], new_outputs[name]
        if [(x.condition, x.value) for x in a.branches] != \
                [(x.condition, x.value) for x in b.branches]:
            continue
        reads: set[str] = set()
        plain = True
        for branch in a.branches:
            for node in (*ir.walk(branch.condition), *ir.walk(branch.value)):
                if isinstance(node, ir.OutputRef) and node.name in names:
                    reads.add(node.name)
                elif isinstance(node, ir.PathwayRef):
                    reads.add("pathway")
                elif isinstance(node, (ir.LetRef, ir.ParamRef, ir.TableRef, ir.OutputRef)):
                    plain = False
        if plain:
            out[name] = frozenset(reads)
    return out


def _equal_by_definition(same: dict[str, frozenset[str]], a: dict[str, object],
                         b: dict[str, object]) -> set[str]:
    """The fields that are equal on the whole region because they are defined alike from
    fields that are equal there (fixed, or themselves equal by definition)."""
    equal: set[str] = set()
    grew = True
    while grew:
        grew = False
        for name, reads in same.items():
            if name not in equal and all(
                    r in equal or (a[r] == b[r] and a[r] is not Symbolic) for r in reads):
                equal.add(name)
                grew = True
    return equal


def _decide_all(ev: Evaluator) -> bool:
    """Force every rule and branch decision (splitting as needed); False on a gap."""
    try:
        ev.rule_index()
        for output in ev.p.outputs:
            ev.branch_index(output)
    except Undecided:
        return False
    return True


def diff(old: ir.Program, new: ir.Program, limit: int = 50) -> DiffResult:
    from .regions import leaves

    extra = tuple(sorted(set(periods(old) + periods(new))))
    inputs = list(old.inputs) + [i for i in new.inputs
                                 if i.path not in {j.path for j in old.inputs}]
    start = joint_root(old, new)
    names = decision_fields(old, new)
    raw: list[tuple[Region, tuple[tuple[str, str, str], ...], dict[str, object]]] = []
    count = 0
    same = _same_definitions(old, new, names)

    def goal(ev: Evaluator) -> tuple[tuple[tuple[str, str, str], ...], dict[str, int]]:
        sides = (ev, Evaluator(new, ev.r, extra))
        values: list[dict[str, object]] = []
        for side in sides:
            # split until every rule, branch and value is fixed, up to the input amounts
            fields: dict[str, object] = {}
            if _decide_all(side):
                rule = side.p.rules[side.rule_index()]
                fields.update(pathway=rule.pathway, rule=rule.name)
                for name in names[2:]:
                    if name not in side.ix.outputs:
                        fields[name] = NOT_DECLARED
                        continue
                    try:
                        fields[name] = side.value(ir.OutputRef(name, side.ix.outputs[name].type))
                    except Symbolic:
                        fields[name] = Symbolic
                    except Undecided:
                        fields[name] = UNDECIDED
            else:
                fields = {name: UNDECIDED for name in names}
            values.append(fields)
        a, b = values
        equal = _equal_by_definition(same, a, b)
        changed = tuple((f, _text(a[f]), _text(b[f])) for f in names
                        if f not in equal and (a[f] != b[f] or a[f] is Symbolic))
        if not changed:
            return (), {}
        if all(a[f] is not Symbolic and b[f] is not Symbolic for f in names):
            return changed, {}
        for sample in _fixed_samples(inputs, ev.r):
            sub = ev.r
            for path, units in sample.items():
                sub = sub.with_domain(path, (units, units))
            sa = _fields(sides[0].narrow(sub), names)
            sb = _fields(sides[1].narrow(sub), names)
            changed = tuple((f, _text(sa[f]), _text(sb[f])) for f in names if sa[f] != sb[f])
            if changed:
                return changed, sample
        return (), {}

    for region, (changed, sample) in leaves(old, goal, start, extra, (old, new)):
        count += 1
        if changed:
            fixed = {}
            for path, units in sample.items():
                item = next(i for i in inputs if i.path == path)
                fixed[path] = unscale(item.type, units)
            raw.append((region, changed, _episode(old, new, region, fixed)))
    merged = _merge(raw)
    return DiffResult([Change(r, c, e) for r, c, e in merged[:limit]], count,
                      max(0, len(merged) - limit))


def _episode(old: ir.Program, new: ir.Program, region: Region,
             fixed: dict[str, object]) -> dict[str, object]:
    episode = example(old, region, **fixed)
    extra = example(new, region, **fixed)
    for key, value in extra.items():  # inputs only the new policy declares
        target = episode.get(key)
        if isinstance(value, dict) and isinstance(target, dict):
            for inner, v in value.items():
                target.setdefault(inner, v)
        else:
            episode.setdefault(key, value)
    return episode


def _order(d: Domain) -> tuple[int, int]:
    return d if isinstance(d, tuple) else (0, 0)


def _union(a: Domain, b: Domain) -> Domain | None:
    if isinstance(a, frozenset) and isinstance(b, frozenset):
        return a | b
    if isinstance(a, tuple) and isinstance(b, tuple):
        if a[1] + 1 >= b[0] and b[1] + 1 >= a[0]:
            return (min(a[0], b[0]), max(a[1], b[1]))
    return None


def _merge(raw: list[tuple[Region, tuple[tuple[str, str, str], ...], dict[str, object]]]
           ) -> list[tuple[Region, tuple[tuple[str, str, str], ...], dict[str, object]]]:
    """Merge regions that change the same fields and differ in one input only (values are
    shown at each merged region's first example)."""
    groups: dict[tuple[str, ...], list[tuple[Region, tuple[tuple[str, str, str], ...],
                                             dict[str, object]]]] = {}
    for item in raw:
        groups.setdefault(tuple(f for f, _, _ in item[1]), []).append(item)
    out = []
    for items in groups.values():
        paths = [p for p, _ in items[0][0].domains]
        changed = True
        while changed and len(items) > 1:
            changed = False
            for index, path in enumerate(paths):
                buckets: dict[object, list[int]] = {}
                for number, (region, _, _) in enumerate(items):
                    key = (region.assumed, region.domains[:index] + region.domains[index + 1:])
                    buckets.setdefault(key, []).append(number)
                merged_items = []
                for numbers in buckets.values():
                    members = sorted((items[n] for n in numbers),
                                     key=lambda it: _order(it[0].domains[index][1]))
                    current = members[0]
                    for other in members[1:]:
                        joined = _union(current[0].domains[index][1], other[0].domains[index][1])
                        if joined is None:
                            merged_items.append(current)
                            current = other
                        else:
                            current = (current[0].with_domain(path, joined), current[1], current[2])
                            changed = True
                    merged_items.append(current)
                items = merged_items
        out += items
    return out


def _accumulated(old: ir.Program, new: ir.Program, change: Change) -> list[str]:
    """The amount used before the episode of each accumulator, where the region leaves it
    open: the value at which the decisions were found to differ (`NAME_used 49.99 of 50.00
    (accumulator NAME)`)."""
    out = []
    for program in (old, new):
        for acc in program.accumulators:
            if acc.field not in change.counterexample:
                continue
            dom = change.region.get(acc.field) if acc.field in dict(change.region.domains) \
                else None
            if isinstance(dom, tuple) and dom[0] == dom[1]:
                continue  # the region's description already names the one value
            text = f"{acc.field} {change.counterexample[acc.field]} (accumulator {acc.name})"
            if text not in out:
                out.append(text)
    return out


def describe_change(old: ir.Program, change: Change) -> str:
    return describe(old, change.region, None)


def to_json(old: ir.Program, new: ir.Program, result: DiffResult,
            start: Region | None = None) -> dict[str, object]:
    base = start or joint_root(old, new)
    program = _words_program(old, new)
    return {
        "old": old.policy.id, "new": new.policy.id, "identical": result.identical,
        "leaves": result.leaves,
        "regions": [{
            "region": describe(program, c.region, base),
            "changes": {f: {"old": a, "new": b} for f, a, b in c.changes},
            "counterexample": {k: json_value(v) for k, v in c.counterexample.items()},
            "accumulated": _accumulated(old, new, c),
        } for c in result.changes],
        "truncated": result.truncated,
    }


def _words_program(old: ir.Program, new: ir.Program) -> ir.Program:
    """`old`, with the inputs only `new` declares, so that regions can be described."""
    paths = {i.path for i in old.inputs}
    extra = tuple(i for i in new.inputs if i.path not in paths)
    if not extra:
        return old
    from dataclasses import replace
    return replace(old, inputs=old.inputs + extra)


def to_text(old: ir.Program, new: ir.Program, result: DiffResult,
            old_name: str, new_name: str) -> str:
    import json
    if result.identical:
        return f"{old_name} and {new_name} decide every episode the same way " \
               f"({result.leaves} regions compared)"
    base = joint_root(old, new)
    program = _words_program(old, new)
    lines = [f"{old_name} → {new_name}: decisions differ in {len(result.changes) + result.truncated}"
             f" region(s) ({result.leaves} compared)"]
    for number, change in enumerate(result.changes, 1):
        lines.append(f"{number}. {describe(program, change.region, base)}"
                     + "".join(f"; with {text}" for text in _accumulated(old, new, change)))
        lines.append("   " + "; ".join(f"{f}: {a} → {b}" for f, a, b in change.changes)
                     + " (at the example)")
        lines.append("   e.g. " + json.dumps(change.counterexample, ensure_ascii=False))
    if result.truncated:
        lines.append(f"... and {result.truncated} more region(s) (use --limit)")
    return "\n".join(lines)
