"""`parcours decide` over tables: the columnar engine, and Parquet or Arrow IPC files.

`decide` hands over here when `--engine columnar` is asked for, or when the input or
the output is a Parquet or Arrow IPC file (by extension or `--format`); JSON Lines
through the row engines stay on `decide`'s own path.  Needs the `columnar` extra
(numpy, pyarrow)."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from decimal import Decimal
from typing import Any, NoReturn

import click

from parcours.runtime import PolicyMeta, Rejection

from .common import (EXIT_OK, EXIT_PROBLEMS, _import_paths_given, bind, compile_failed, fail,
                     load, open_in, open_out, quiet_exit_on_closed_pipe, suffix)
from .stream import Columnar

TABLE_FORMATS = ("jsonl", "parquet", "arrow")
# The extensions of table files (tools.tables.format_of, without importing pyarrow).
TABLE_SUFFIXES = (".parquet", ".pq", ".arrow", ".feather", ".ipc", ".arrows")


def _is_table(path: str) -> bool:
    return suffix(path).lower() in TABLE_SUFFIXES


def wants_tables(engine: str, input_path: str, output_path: str, fmt: str | None) -> bool:
    """Whether a run goes through tables: the columnar engine or a table format."""
    return engine == "columnar" or fmt in ("parquet", "arrow") or \
        _is_table(input_path) or _is_table(output_path)


COLUMNAR_BLOCK_BYTES = 1 << 21  # a block of JSON Lines for the columnar engine


def columnar_lines(policy: str, input_path: str, output_path: str, fmt: str | None,
                   plain: bool, tally: Callable[[], Any] | None
                   ) -> tuple[Any, Columnar] | None:
    """For `--engine columnar` from JSON Lines to JSON Lines, a `plain` run (no --explain,
    --set or state file): the policy's modules and the work on a block of lines
    (`json_columns.ColumnarLines`, which tallies each block with `tally`, --summary's), for
    `stream.decide_lines`; None for a run that goes through tables (`decide_tables`), or
    when msgspec (the `fast` extra) is missing."""
    if not plain or fmt not in (None, "jsonl") or _is_table(input_path) or \
            _is_table(output_path):
        return None
    try:
        import msgspec  # noqa: F401
    except ImportError:
        return None
    _without_pandas()
    _, columnar = _modules(policy, "columnar")
    from ..tools.json_columns import ColumnarLines, newlines

    work = ColumnarLines(columnar, tally)
    if not work.shape.supported:
        return None
    return columnar, Columnar(
        lambda block, first, fast: (work(block, first), (work.keyed, work.summary)),
        COLUMNAR_BLOCK_BYTES, newlines)


class _NoPandas:
    """An import finder that refuses pandas (see `_without_pandas`)."""

    @staticmethod
    def find_spec(name: str, *args: object) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("pandas is not used by this run")


def _without_pandas() -> None:
    """The command's process runs as if pandas were not installed (pyarrow works without
    it, and the columnar extra does not ask for it): pyarrow would import it, a fifth of a
    second and half of a columnar run's start-up, only to ask whether the lists and arrays
    it converts are pandas objects.  Only in the console script's own process (`entry.OWN_PROCESS`), which
    imports nothing else that wants pandas; never in a caller's (a test's, a notebook's)."""
    import sys

    from . import entry

    if entry.OWN_PROCESS and "pandas" not in sys.modules and \
            not any(isinstance(f, _NoPandas) for f in sys.meta_path):
        sys.meta_path.insert(0, _NoPandas())


def _modules(policy: str, engine: str) -> Any:
    try:
        from ..tools import tables
    except ImportError as exc:
        fail(f"tables need the columnar extra (pip install 'parcours[columnar]'): {exc}")
    if engine != "columnar":
        return tables, None
    from pathlib import Path

    if not Path(policy).exists():
        fail(f"no such file: {policy}")
    if Path(policy).suffix == ".py":
        fail(f"--engine columnar needs a .parcours policy; {policy} is a generated module")
    try:
        return tables, tables.load_columnar(policy, cache=not _import_paths_given())
    except (OSError, SyntaxError, ImportError) as exc:
        fail(f"cannot load {policy}: {exc}")
    except Exception as exc:
        compile_failed(policy, exc)
        raise


class _Written:
    """A binary output that remembers a failed write, so that the error names the output
    (Arrow reports it as its own)."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            written: int = self.raw.write(data)
            return written
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.raw.flush()

    @property
    def closed(self) -> bool:
        return bool(self.raw.closed)


_WRITTEN: list[_Written] = []  # the binary output of this run, if any


@contextmanager
def _binary_out(path: str) -> Iterator[Any]:
    with open_out(path) as sink:
        handle: Any = sink
        raw = getattr(handle, "buffer", None)
        if raw is None:  # standard output
            raw = sys.stdout.buffer
        else:
            handle.flush()
        written = _Written(raw)
        _WRITTEN.append(written)
        yield written
        raw.flush()


class TableSummary:
    """Counts by pathway and money totals over decision tables (`decide --summary`)."""

    def __init__(self, meta: PolicyMeta, outputs: tuple[tuple[str, str], ...]) -> None:
        self.meta, self.outputs = meta, outputs
        self.by_pathway: dict[str, int] = {}
        self.totals: dict[str, Decimal] = {}

    def add(self, table: Any) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        for entry in pc.value_counts(table.column("pathway")).to_pylist():
            self.by_pathway[entry["values"]] = self.by_pathway.get(entry["values"], 0) \
                + entry["counts"]
        for name, _ in self.outputs:
            column = table.column(name)
            if pa.types.is_dictionary(column.type):
                column = column.cast(pa.string())
            amounts = pc.cast(column, pa.decimal128(38, self.meta.decimals))
            total = pc.sum(amounts).as_py() or Decimal(0)
            self.totals[name] = self.totals.get(name, Decimal(0)) + total


def decide_tables(policy: str, input_path: str, output_path: str, fmt: str | None,
                  engine: str, sets: dict[str, str], explain: bool, summary: bool,
                  quiet: bool, summary_type: Any, totalled: Callable[[PolicyMeta], Any],
                  state_in: str | None = None, state_out: str | None = None) -> NoReturn:
    """Decide a file through tables and exit as `decide` does (`summary_type` and
    `totalled`: decide's, for the same --summary; `state_in`, `state_out`: the
    accumulators' state files, as decide's)."""
    _WRITTEN.clear()  # an earlier run's output (in this process) is not this run's
    _without_pandas()
    if explain:
        fail("--explain writes JSON Lines traces: use the compiled or interpreted engine "
             "with JSON Lines input and output")
    if engine == "columnar" and sets:
        fail("--set is not supported by --engine columnar yet: use --engine compiled")
    tables, columnar = _modules(policy, engine)
    module: types.ModuleType = columnar.row if columnar is not None else load(policy, engine)
    decide = None if columnar is not None else bind(module, sets)
    meta: PolicyMeta = module.POLICY
    in_fmt = tables.format_of(input_path if input_path != "-" else "", fmt)
    out_fmt = tables.format_of(output_path if output_path != "-" else "", fmt)
    if in_fmt != "jsonl" and input_path == "-":
        fail(f"a {in_fmt} input must be a file, not standard input")
    totals = TableSummary(meta, totalled(meta))
    ledger = _ledger(module, state_in, state_out)

    def reject(rejection: Rejection) -> None:
        click.echo(f"rejected: {rejection}", err=True)

    import pyarrow as pa

    try:
        with _output(out_fmt, output_path) as handle:
            sink = tables.DecisionSink(handle, out_fmt, meta)
            try:
                with open_in(input_path) if in_fmt == "jsonl" else \
                        nullcontext(input_path) as source:
                    counts = tables.decide_file(columnar or module, decide, source, in_fmt,
                                                sink, reject, totals.add if summary else None,
                                                ledger)
            finally:
                sink.close()
    except (pa.ArrowException, OSError) as exc:
        failed = next((w.error for w in _WRITTEN if w.error is not None), None)
        if isinstance(exc, BrokenPipeError) or isinstance(failed, BrokenPipeError):
            quiet_exit_on_closed_pipe()
        if failed is not None:
            where = "standard output" if output_path == "-" else output_path
            fail(f"cannot write {where}: {failed.strerror or failed}")
        if isinstance(exc, OSError) and exc.filename:
            fail(f"cannot read {input_path}: {exc.strerror}")
        fail(f"cannot read {input_path}: {exc}")
    if state_out is not None and ledger is not None:
        with open_out(state_out) as state:
            for line in ledger.state_lines():
                state.write(line + "\n")
    if summary:
        shown = summary_type()
        shown.by_pathway, shown.totals = totals.by_pathway, totals.totals
        shown.outputs = totals.outputs
        click.echo(shown.render(meta.id, meta.currency, counts.decided, counts.rejected, sets,
                                meta.decimals, totalled(meta)), err=True)
    elif not quiet:
        click.echo(f"{counts.decided} decided, {counts.rejected} rejected", err=True)
    raise SystemExit(EXIT_PROBLEMS if counts.rejected else EXIT_OK)


def _ledger(module: types.ModuleType, state_in: str | None, state_out: str | None) -> Any:
    """The run's ledger when a state is read or written (None otherwise: the run starts
    from nothing); refused for a policy without accumulators, as decide refuses it."""
    from parcours.runtime import specs_of

    from .accumulate import load_ledger

    if state_in is None and state_out is None:
        return None
    specs = specs_of(module)
    if not specs:
        fail(f"{'--state-in' if state_in is not None else '--state-out'}: the policy declares "
             "no accumulator")
    return load_ledger(specs, state_in)


@contextmanager
def _output(fmt: str, path: str) -> Iterator[Any]:
    if fmt == "jsonl":
        with open_out(path) as sink:
            yield sink
    else:
        with _binary_out(path) as raw:
            yield raw
