"""What every command shares: exit codes, failing cleanly, loading a policy, what-if
parameters and opening inputs and outputs.

Exit codes: 0 success; 1 the run found problems (errors in a policy, rejected
episodes, failing tests, differing policies); 2 the command could not run (bad
usage, unreadable input, a policy that does not compile).

Nothing here imports click at import time (the options import it when a command is
built): `entry` decides a short run with these functions and without click.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, NoReturn, TypeVar

from parcours.runtime import DEFAULT_BUFFER, Decision, OverrideError

from ..files import OutputError, Sink, open_output, standard_output

if TYPE_CHECKING:
    import click

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def fail(message: str) -> NoReturn:
    """Report a usage or I/O problem and exit 2."""
    echo_error(f"error: {message}")
    raise SystemExit(EXIT_USAGE)


def echo_error(message: str) -> None:
    """One message on stderr, as `click.echo(message, err=True)` writes it: a newline
    added, terminal colour codes removed when stderr is not a terminal, flushed."""
    out = message + "\n"
    stream = sys.stderr
    if "\033" in out and not _isatty(stream):
        import re

        out = re.sub(r"\033\[[;?0-9]*[a-zA-Z]", "", out)
    stream.write(out)
    stream.flush()


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except Exception:
        return False


T = TypeVar("T")


def guarded(run: Callable[[], T]) -> T:
    """`run()`, with standard output flushed before it returns, so that a write error
    there (a full disk, `> /dev/full`) is an exit 2 with one line, not a lost output with
    exit 0 or a traceback; a closed pipe (`| head`) exits quietly."""
    try:
        try:
            return run()
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        quiet_exit_on_closed_pipe()
    except OSError as exc:  # commands report their own files; what is left is stdout
        where = "standard output" if exc.filename is None else str(exc.filename)
        fail(f"cannot write {where}: {exc.strerror or exc}")


def load(policy: str, engine: str = "compiled") -> types.ModuleType:
    """A policy file compiled in memory (or, with `engine="interpreted"`, run by the
    reference interpreter), or a generated module; compile errors exit 2.

    A generated `.py` module is imported without the compiler (no Lark, no Jinja2)."""
    if not os.path.exists(policy):
        fail(f"no such file: {policy}")
    if suffix(policy) == ".py" and engine == "compiled":
        from ..backends.python.cache import load_generated

        try:
            return load_generated(policy)
        except (OSError, SyntaxError, ImportError) as exc:
            fail(f"cannot load {policy}: {exc}")
    cache = engine == "compiled" and not _import_paths_given()
    if cache:  # before importing any of the compiler: a second run needs none of it
        from ..backends.python.cache import cached

        try:
            module = cached(policy)
        except (SyntaxError, ImportError, ValueError):  # an entry that no longer loads
            module = None
        if module is not None:
            return module
    from ..diagnostics import CompileError

    try:
        if cache:
            return _compile_and_store(policy)
        from ..pipeline import load_policy

        return load_policy(policy, engine)
    except CompileError as exc:
        compile_failed(policy, exc)
        raise  # not reached: a compile error exits
    except ValueError as exc:
        fail(str(exc))
    except (OSError, SyntaxError, ImportError) as exc:
        fail(f"cannot load {policy}: {exc}")


def compile_failed(policy: str, exc: BaseException) -> None:
    """Exit 2 for a policy the compiler refuses: its diagnostics and one line, or a
    construct a backend does not support yet; return for any other error (the caller's).
    The compiler's error classes are imported only here: a cached run never needs them."""
    from ..backends.python.spelling import CodegenError
    from ..diagnostics import CompileError

    if isinstance(exc, CompileError):
        echo_error(exc.render())
        fail(f"{policy} does not compile ({exc})")
    if isinstance(exc, CodegenError):
        fail(str(exc))


def suffix(path: str) -> str:
    """`Path(path).suffix`, without importing pathlib: the last name's extension."""
    parts = [part for part in path.split(os.sep) if part and part != "."]
    name = parts[-1] if parts else ""
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def _import_paths_given() -> bool:
    click = sys.modules.get("click")  # no click, no command context (a short run, `entry`)
    if click is None:
        return False
    ctx = click.get_current_context(silent=True)
    return ctx is not None and bool(ctx.find_root().meta.get(_IMPORT_PATHS_GIVEN))


def _compile_and_store(policy: str) -> types.ModuleType:
    """A `.parcours` policy compiled in memory, and kept in the compiled-module cache
    (backends/python/cache.py) for the next run."""
    from ..backends.python.cache import store
    from ..backends.python.loader import load_module
    from ..pipeline import compile_policy

    analysis, text = compile_policy(policy, verify=False)
    assert analysis.program is not None
    name = f"parcours_{analysis.program.policy.id}"
    module = load_module(name, text, f"<{policy}>")
    store(policy, analysis.files, name, text)
    return module


_IMPORT_PATHS_GIVEN = "parcours.import_paths"  # in the root context's meta when given


ENGINES = ("compiled", "interpreted")  # what `pipeline.load_policy` runs a policy with


F = TypeVar("F", bound=Callable[..., object])


def import_path_option(command: F) -> F:
    """`--import-path DIR` (repeatable): folders imports may also come from, in order
    (docs/language.md, imports); they hold for the whole run."""
    import click

    def remember(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> None:
        if not value:  # nothing to set: a generated module runs without the compiler
            return
        ctx.find_root().meta[_IMPORT_PATHS_GIVEN] = True
        from ..sema.load import set_import_paths

        ctx.call_on_close(set_import_paths(value))

    option = click.option("--import-path", multiple=True, metavar="DIR", expose_value=False,
                          callback=remember, is_eager=True,
                          type=click.Path(exists=True, file_okay=False),
                          help="A folder imports may also come from (repeatable).")
    return option(command)


def parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    """`--set NAME=VALUE` options as a mapping."""
    out: dict[str, str] = {}
    for item in values:
        if "=" not in item:
            fail(f"--set {item}: write NAME=VALUE")
        name, value = item.split("=", 1)
        out[name.strip()] = value
    return out


def bind(module: types.ModuleType, sets: Mapping[str, str],
         explain: bool = False) -> Callable[[Mapping[str, object]], Decision]:
    """The module's decide (or explain) with what-if parameters bound."""
    function = module.explain if explain else module.decide
    if not sets:
        return function  # type: ignore[no-any-return]
    try:
        params = module.with_overrides(sets)
    except OverrideError as exc:  # worded for the command line: the override is a --set
        fail(exc.as_option("--set"))
    return functools.partial(function, params=params)


@contextmanager
def open_out(path: str | None) -> Iterator[Sink]:
    """Standard output for None or '-', else the file (see `files.open_output`).

    A write error exits 2 with one line naming the output; a closed pipe (`| head`)
    exits 2 quietly."""
    try:
        with standard_output() if path is None or path == "-" else open_output(path) as sink:
            yield sink
    except OutputError as exc:
        if exc.errno == errno.EPIPE:
            quiet_exit_on_closed_pipe()
        fail(str(exc))


def quiet_exit_on_closed_pipe() -> NoReturn:
    """The reader of standard output has gone: exit 2 without a word, and point standard
    output at the null device so that flushing it at exit does not complain."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError):
        pass
    raise SystemExit(EXIT_USAGE)


@contextmanager
def open_in(path: str) -> Iterator[IO[bytes]]:
    """Standard input for '-', else the file, as bytes: lines are decoded one by one, so
    that a line that is not UTF-8 is rejected by its number; a file that cannot be opened
    exits 2."""
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        handle = open(path, "rb", buffering=1 << 20)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    with handle:
        yield handle


def jobs_option(function: Callable[..., None]) -> Callable[..., None]:
    """`-j/--jobs N`: how many processes decide (default: every core this process may use);
    1 decides in the command's own process.  The output is the same whatever N is."""
    import click

    from .jobs import cores

    return click.option("-j", "--jobs", type=click.IntRange(min=1), default=cores(),
                        show_default="the number of cores", metavar="N",
                        help="Decide in N processes (1: in this one); the output is the "
                             "same, in input order.")(function)


def quiet_option(function: Callable[..., None]) -> Callable[..., None]:
    """`-q/--quiet`, the same on every command that writes progress or notes on stderr."""
    import click

    return click.option("-q", "--quiet", is_flag=True,
                        help="Write no progress line and no notes on stderr (errors, "
                             "rejections and --summary still show).")(function)


def input_name(path: str) -> str:
    """How messages name an input: '-' is standard input."""
    return "standard input" if path == "-" else path


def state_in_option(function: F) -> F:
    """`--state-in FILE`: the accumulators' totals to start from."""
    import click

    return click.option(
        "--state-in", "state_in", default=None, metavar="FILE",
        help="Accumulators: start from this state (JSON Lines: accumulator, key, period, "
             "used).")(function)


def state_out_option(function: F) -> F:
    """`--state-out FILE`: where the accumulators' totals are written at the end."""
    import click

    return click.option(
        "--state-out", "state_out", default=None, metavar="FILE",
        help="Accumulators: write the final state here (the same JSON Lines).")(function)


def buffer_option(function: F) -> F:
    """`--sort-buffer LINES`: episodes sorted in memory before a run spills to disk."""
    import click

    return click.option(
        "--sort-buffer", "sort_buffer", default=DEFAULT_BUFFER, show_default=True,
        type=click.IntRange(1), metavar="LINES",
        help="Accumulators: episodes sorted in memory before a run spills to disk.")(function)
