"""Dated values: parameters and tables whose values change on given days, covering the
policy's validity with no hole and no overlap."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

from parcours.runtime import key_text

from .. import ir
from ..ir import ops
from ..syntax import nodes as n
from ..diagnostics import Span, did_you_mean
from .expressions import ExpressionChecker


MAX_KEYS = 10_000  # the combinations a table keyed by several values may have


class DatedChecker(ExpressionChecker):
    # ---- dated values -----------------------------------------------------
    def _dated_rows(self, rows: tuple[n.DatedRow, ...], type_: ir.Type, what: str,
                    span: Span) -> tuple[ir.Dated, ...]:
        out: list[ir.Dated] = []
        for row in rows:
            value = self._constant(row.value, type_, f"a value of `{what}`")
            if row.until is not None and row.until < row.start:
                self.d.error("E320", f"a value of `{what}` ends before it starts", row.span)
                continue
            if value is not None:
                out.append(ir.Dated(row.start, row.until, value, self._notes(row.annotations),
                                    row.span))
        out.sort(key=lambda v: v.start)
        self._coverage(out, what, span)
        return tuple(out)

    def _coverage(self, values: list[ir.Dated], what: str, span: Span) -> None:
        """(d) dated values cover the validity with no hole and no overlap."""
        if not values:
            return
        for prev, cur in zip(values, values[1:]):
            if prev.start == cur.start or (prev.until is not None and prev.until >= cur.start):
                self.d.error("E321", f"two values of `{what}` are in force on {cur.start}", cur.span,
                             "make the earlier one end the day before, or remove one",
                             notes=((prev.span, "the other value"),))
        first = values[0]
        if first.start > self.valid_from:
            self._hole(what, self.valid_from, first.start - timedelta(days=1), first.span)
        for prev, cur in zip(values, values[1:]):
            if prev.until is not None and prev.until + timedelta(days=1) < cur.start:
                self._hole(what, prev.until + timedelta(days=1), cur.start - timedelta(days=1),
                           cur.span)
        last = values[-1]
        if last.until is not None and (self.valid_until is None or last.until < self.valid_until):
            start = last.until + timedelta(days=1)
            self._hole(what, start, self.valid_until, last.span)

    def _hole(self, what: str, start: date, end: date | None, span: Span) -> None:
        if self.valid_until is not None and start > self.valid_until:
            return
        upto = f" to {end}" if end else " onwards"
        self.d.error("E322", f"`{what}` has no value from {start}{upto}, inside the policy's "
                     f"validity", span, "add a `from` line that covers these days",
                     counterexample=self._episode_on(start))

    def _episode_on(self, day: date) -> dict[str, object]:
        """A contract episode dated `day`: defaults, else false / the lowest value / the first member."""
        episode: dict[str, object] = {"id": f"counterexample-{day.isoformat()}"}
        for path, spec in self.inputs.items():
            value: object
            if path == "date":
                value = day.isoformat()
            elif spec.default is not None:
                value = spec.default.value
            elif isinstance(spec.type, ir.IntT):
                value = spec.type.low or 0
            elif isinstance(spec.type, ir.EnumT):
                value = spec.type.members[0] if spec.type.members else ""
            elif isinstance(spec.type, ir.MoneyT):
                value = "0.00"
            elif isinstance(spec.type, ir.DateT):
                value = day.isoformat()
            else:
                value = False
            if isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, date):
                value = value.isoformat()
            *sections, key = path.split(".")
            target = episode
            for section in sections:
                inner = target.setdefault(section, {})
                assert isinstance(inner, dict)
                target = inner
            target[key] = value
        return episode

    def _params(self) -> None:
        for decl in self.scope.params.values():
            type_ = self._type(decl.type)
            if type_ is None:
                continue
            notes = self._notes(decl.annotations)
            if decl.value is not None:
                const = self._constant(decl.value, type_, f"the value of `{decl.name}`")
                if const is None:
                    continue
                values: tuple[ir.Dated, ...] = (
                    ir.Dated(self.valid_from, None, const, ir.Notes(), decl.value.span),)
                dated = False
            else:
                values = self._dated_rows(decl.rows, type_, decl.name, decl.span)
                dated = True
            self.params[decl.name] = ir.Param(decl.name, type_, values, dated, notes, decl.span)

    def _tables(self) -> None:
        for decl in self.scope.tables.values():
            if decl.columns:  # keyed by a bool or by several values
                self._keyed_table(decl)
                continue
            # an enum, `pathway` included (the pathways the decision declares: rates by pathway)
            key = self.enums.get(decl.key_type)  # `pathway` too: the decision declares it
            type_ = self._type(decl.type)
            if key is None:
                self.d.error("E323", f"a table is keyed by an enum (or `pathway`); "
                             f"`{decl.key_type}` is not one",
                             decl.key_span, did_you_mean(decl.key_type, self.enums))
                continue
            if type_ is None:
                continue
            enum = key
            rows = self._rows(decl, type_, key.members,
                              lambda lit: self._member(lit, enum, decl), keyed=False)
            self.tables[decl.name] = ir.Table(decl.name, key, type_, rows,
                                              self._notes(decl.annotations), decl.span)

    def _member(self, lit: n.Literal | n.KeyTuple, key: ir.EnumT, decl: n.TableDecl
                ) -> str | None:
        """A row's key in a table keyed by one enum, or None (reported) when it is not one."""
        if not isinstance(lit, n.Literal) or lit.kind == "bool":
            self.d.error("E325", f"table `{decl.name}` is keyed by one "
                         f"{key.name}: a row's key is one of its members", lit.span)
            return None
        member = str(lit.value)
        if member not in key.members:
            self.d.error("E325", f"`{member}` is not a member of `{key.name}`", lit.span,
                         did_you_mean(member, key.members))
            return None
        return member

    def _rows(self, decl: n.TableDecl, type_: ir.Type, members: tuple[str, ...],
              member_of: Callable[[n.Literal | n.KeyTuple], str | None], keyed: bool
              ) -> tuple[ir.TableRow, ...]:
        """A table's rows, each with the keys it holds (`member_of` reads and checks one, or
        reports it and gives None); the `else` row takes the keys left (E324 for two, W327
        when none are left), and without it every key needs a row (E327); a key given twice
        is E326.  `keyed`: a table of several columns or a bool (combinations, in messages)."""
        seen: dict[str, Span] = {}
        rows: list[tuple[n.TableRow, tuple[str, ...]]] = []
        else_row: n.TableRow | None = None
        for row in decl.rows:
            if not row.keys:
                if else_row is not None:
                    self.d.error("E324", "two `else` rows", row.span)
                else_row = row
                continue
            keys: list[str] = []
            for lit in row.keys:
                member = member_of(lit)
                if member is None:
                    continue
                if member in seen:
                    self.d.error("E326", f"`{key_text(member)}` has two rows in table "
                                 f"`{decl.name}`", lit.span,
                                 "each combination has one row" if keyed else None,
                                 notes=((seen[member], "first row"),))
                    continue
                seen[member] = lit.span
                keys.append(member)
            rows.append((row, tuple(keys)))
        missing = tuple(m for m in members if m not in seen)
        if else_row is not None:
            if missing:
                rows.append((else_row, missing))
            else:
                self.d.warning("W327", f"the `else` row of `{decl.name}` covers no key",
                               else_row.span)
        elif missing and keyed:
            shown = ", ".join(f"`{key_text(m)}`" for m in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            self.d.error("E327", f"table `{decl.name}` has no row for {shown}{more}", decl.span,
                         "every combination needs a row: add them, or an `else` row")
        elif missing:
            self.d.error("E327", f"table `{decl.name}` has no row for "
                         + ", ".join(f"`{m}`" for m in missing), decl.span,
                         "add rows for them, or an `else` row")
        out: list[ir.TableRow] = []
        for row, row_keys in rows:
            if keyed and not row_keys:
                continue
            values = self._row_values(decl, type_, row, ", ".join(map(key_text, row_keys)))
            if values is not None:
                out.append(ir.TableRow(row_keys, values, self._notes(row.annotations), row.span))
        return tuple(out)

    def _row_values(self, decl: n.TableDecl, type_: ir.Type, row: n.TableRow, keys: str
                    ) -> tuple[ir.Dated, ...] | None:
        """A row's value over the policy's validity (None when it does not check): one
        constant, or its dated rows (`keys` names the row in messages)."""
        if row.value is None:
            return self._dated_rows(row.rows, type_, f"{decl.name}[{keys or 'else'}]", row.span)
        const = self._constant(row.value, type_, f"a value of `{decl.name}`")
        if const is None:
            return None
        return (ir.Dated(self.valid_from, None, const, ir.Notes(), row.value.span),)

    def _keyed_table(self, decl: n.TableDecl) -> None:
        """A table keyed by a bool or by several values: a row per combination of one value
        per column (`(cardiology, "2"): …`), or `else` for the combinations left."""
        columns: list[ir.EnumT | ir.BoolT] = []
        for name, span in decl.columns:
            column = ir.BoolT() if name == "bool" else self.enums.get(name)
            if column is None:
                self.d.error("E323", f"a table is keyed by enums (or `pathway`) or bools; "
                             f"`{name}` is not one", span, did_you_mean(name, self.enums))
                return
            columns.append(column)
        members = ops.key_members(columns)
        if len(members) > MAX_KEYS:
            self.d.error("E328", f"table `{decl.name}` has {len(members):,} combinations of "
                         f"keys, more than {MAX_KEYS:,}", decl.key_span,
                         "split it into smaller tables, or key it by fewer columns")
            return
        type_ = self._type(decl.type)
        if type_ is None:
            return
        key = ir.EnumT(decl.key_type, members)
        rows = self._rows(decl, type_, members,
                          lambda lit: self._row_key(lit, columns, decl), keyed=True)
        self.tables[decl.name] = ir.Table(decl.name, key, type_, rows,
                                          self._notes(decl.annotations), decl.span, tuple(columns))

    def _row_key(self, lit: n.Literal | n.KeyTuple, columns: list[ir.EnumT | ir.BoolT],
                 decl: n.TableDecl) -> str | None:
        """A row's key as the table holds it, or None (reported) when it is not one."""
        parts = lit.parts if isinstance(lit, n.KeyTuple) else (lit,)
        if len(parts) != len(columns):
            self.d.error("E325", f"table `{decl.name}` is keyed by {decl.key_type}: a row's key "
                         f"has {len(columns)} part{'s' if len(columns) > 1 else ''}, this one "
                         f"{len(parts)}", lit.span,
                         "write one value per column, e.g. `(" + ", ".join(
                             "true" if isinstance(c, ir.BoolT) else c.members[0]
                             for c in columns) + "): …`")
            return None
        values: list[bool | str] = []
        for part, column in zip(parts, columns):
            if isinstance(column, ir.BoolT):
                if part.kind != "bool":
                    self.d.error("E325", f"`{part.value}` is not true or false", part.span,
                                 "this column is a bool: write `true` or `false`")
                    return None
                assert isinstance(part.value, bool)
                values.append(part.value)
            elif part.kind == "bool" or str(part.value) not in column.members:
                self.d.error("E325", f"`{str(part.value).lower()}` is not a member of "
                             f"`{column.name}`", part.span,
                             did_you_mean(str(part.value), column.members)
                             or f"members: {', '.join(column.members)}")
                return None
            else:
                values.append(str(part.value))
        return ops.table_key(values)
