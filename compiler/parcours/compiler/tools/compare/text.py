"""The comparison as text: the table `parcours compare` prints, and CSV."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from . import CompareResult, money


def _opt(value: Decimal | None) -> str:
    return "—" if value is None else money(value)


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    out = []
    for r, row in enumerate(rows):
        cells = [cell.rjust(widths[c]) if c in right else cell.ljust(widths[c])
                 for c, cell in enumerate(row)]
        out.append("  ".join(cells).rstrip())
        if r == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def totalled_names(result: CompareResult) -> list[str]:
    """Every totalled output name over the compared policies, first seen first."""
    return list(dict.fromkeys(name for p in result.policies for name in p.amounts))


def render_table(result: CompareResult) -> str:
    lines = [f"{result.episodes} episodes" + (f" from {result.input_name}" if result.input_name
                                              else "")]
    for name, ids in result.overrides.items():
        lines.append(f"what-if: {name}={result.override_values[name]} ({', '.join(ids)})")
    lines.append("")
    names = totalled_names(result)
    rows = [["policy", "currency", "decided", "rejected"] + [n.replace("_", " ") for n in names]
            + ["mean " + n.replace("_", " ") for n in names]]
    for p in result.policies:
        rows.append([p.id, p.currency, str(p.decided), str(p.rejected)]
                    + [money(p.amounts[n]) if n in p.amounts else "—" for n in names]
                    + [_opt(p.mean(n)) if n in p.amounts else "—" for n in names])
    lines += _table(rows, set(range(2, 4 + 2 * len(names))))
    if not names:
        lines.append("no money output to total")
    pathways = sorted({k for p in result.policies for k in p.by_pathway})
    if pathways:
        lines.append("")
        rows = [["pathway"] + [p.id for p in result.policies]]
        for pathway in pathways:
            rows.append([pathway] + [str(p.by_pathway.get(pathway, 0)) for p in result.policies])
        lines += _table(rows, set(range(1, len(result.policies) + 1)))
    for pair in result.pairs:
        lines += ["", f"{pair.old} → {pair.new} ({pair.currency}): {pair.both_decided} decided by "
                  f"both, {pair.pathway_changed} change pathway, net transfer to patients "
                  f"{money(pair.net_transfer)} {pair.currency}"]
        for title, groups in (("specialty", pair.specialties()), ("age band", pair.age_bands())):
            rows = [[title, "episodes", "pathway changed", "net transfer"]]
            rows += [[k, str(g.episodes), str(g.pathway_changed), money(g.net_transfer)]
                     for k, g in groups]
            lines += [""] + ["  " + line for line in _table(rows, {1, 2, 3})]
    for p in result.policies:
        for cap in p.caps:
            lines += ["", f"{p.id}: accumulator {cap.name} (per {', '.join(cap.keys)}): "
                      f"{len(cap.reached)} reach the cap ({cap.periods_reached} key-periods), "
                      f"it bound {cap.bound} episodes, {money(cap.not_added)} {p.currency} not "
                      f"added; the cap changes what the insurer pays by {cap.insurer:+} and what "
                      f"patients pay by {cap.patient:+} {p.currency}"]
    for p in result.policies:
        if p.rejection_examples:
            lines += ["", f"{p.id}: {p.rejected} rejected, e.g."]
            lines += [f"  {message}" for message in p.rejection_examples]
    return "\n".join(lines)


def render_csv(result: CompareResult) -> str:
    pathways = sorted({k for p in result.policies for k in p.by_pathway})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = totalled_names(result)
    writer.writerow(["policy", "currency", "episodes", "decided", "rejected"] + names
                    + [f"mean_{name}" for name in names]
                    + [f"pathway:{name}" for name in pathways])
    for p in result.policies:
        means = [p.mean(n) if n in p.amounts else None for n in names]
        writer.writerow([p.id, p.currency, result.episodes, p.decided, p.rejected]
                        + [money(p.amounts[n]) if n in p.amounts else "" for n in names]
                        + ["" if m is None else money(m) for m in means]
                        + [p.by_pathway.get(name, 0) for name in pathways])
    return buffer.getvalue()
