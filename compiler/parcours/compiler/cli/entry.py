"""The console script's entry point (`parcours`): a short `parcours decide` starts without
click; every other command line goes to the click group (`cli.main`).

Importing click and building the command line costs more than deciding a few episodes.
`main` looks at the arguments first: `decide POLICY` with only -i/--input, -o/--output,
-j/--jobs and -q/--quiet, each written plainly (`-i FILE`, `--input FILE`,
`--input=FILE`), a JSON Lines input that is a regular file of at most
`jobs.PARALLEL_BYTES` (a run that never forks) and a JSON Lines output, is decided here
by the run the `decide` command calls (`common.load`, then `stream.decide_lines`): same
decisions, same messages, same exit codes.  Anything else
(another command, --help, --summary, --set, a table format, a repeated or unusual
option, standard input from a pipe, a long input) is parsed and run by click, which
holds the options' one definition; tests/test_entry.py checks that the options read
here are those of `decide`, with the same defaults, and that both ways give the same
bytes."""

from __future__ import annotations

import gc
import os
import sys
from typing import NoReturn

# Whether this process is the console script's own (set by `main`), not a library's caller
# of the click group, such as a test: what only a whole process may change (a run that
# refuses to import pandas, cli/decide_tables.py) asks.
OWN_PROCESS = False

# A short run's options: the policy, the input, the output, --jobs (None: the default) and
# --quiet.
Short = tuple[str, str, str, int | None, bool]

# The options read here: option → (its name in `decide`, whether it takes a value).
OPTIONS: dict[str, tuple[str, bool]] = {
    "-i": ("input_path", True), "--input": ("input_path", True),
    "-o": ("output_path", True), "--output": ("output_path", True),
    "-j": ("jobs", True), "--jobs": ("jobs", True),
    "-q": ("quiet", False), "--quiet": ("quiet", False),
}
# The extensions of JSON Lines files decided here (`--format` is by extension otherwise:
# anything else goes to the command, which knows the table formats).
LINES_SUFFIXES = ("", ".jsonl", ".json", ".ndjson", ".txt")


def main() -> None:
    """`parcours`: a short decide here, anything else through click."""
    global OWN_PROCESS
    OWN_PROCESS = True
    arguments = sys.argv[1:]
    if arguments[:1] == ["decide"] and not _completing():
        # Start-up makes many objects and no garbage: the cycle collector would go over
        # them again and again while the runtime imports (`decide` turns it back on).
        gc.disable()
        options = short_decide(arguments[1:])
        if options is None:
            gc.enable()
        else:
            from .common import guarded

            try:
                guarded(lambda: decide(*options))  # always exits
            except (KeyboardInterrupt, EOFError):  # as click words it
                sys.stderr.write("\nAborted!\n")
                sys.stderr.flush()
                raise SystemExit(1) from None
    from . import main as command_line

    command_line()


def _completing() -> bool:
    """Shell completion (`_PARCOURS_COMPLETE=...`) is click's."""
    return any(name.startswith("_") and name.endswith("_COMPLETE") for name in os.environ)


def short_decide(arguments: list[str]) -> Short | None:
    """The `decide` options of `arguments` when this module decides them (see the module's
    text), else None."""
    from .common import suffix

    found: dict[str, str | bool] = {}
    positional: list[str] = []
    rest = iter(arguments)
    for argument in rest:
        if not argument.startswith("-") or argument == "-":
            positional.append(argument)
            continue
        option, equals, value = argument.partition("=")
        if option not in OPTIONS or (equals and not option.startswith("--")):
            return None
        name, takes_value = OPTIONS[option]
        if name in found:
            return None  # a repeated option: click says what that means
        if not takes_value:
            if equals:
                return None
            found[name] = True
            continue
        if not equals:
            value = next(rest, "")
        if value == "" or (value.startswith("-") and value != "-"):
            return None
        found[name] = value
    if len(positional) != 1:
        return None
    jobs = str(found.get("jobs", "1"))
    if not (jobs.isascii() and jobs.isdigit() and int(jobs) >= 1):
        return None
    input_path, output_path = str(found.get("input_path", "-")), str(found.get("output_path", "-"))
    if any(path != "-" and suffix(path).lower() not in LINES_SUFFIXES
           for path in (input_path, output_path)):
        return None
    if not _short(input_path):
        return None
    return (positional[0], input_path, output_path,
            int(jobs) if "jobs" in found else None, "quiet" in found)


def _short(path: str) -> bool:
    """Whether the input is a regular file short enough for one process."""
    from .jobs import PARALLEL_BYTES

    try:
        status = os.fstat(sys.stdin.fileno()) if path == "-" else os.stat(path)
    except (OSError, ValueError, AttributeError):
        return False
    import stat

    return stat.S_ISREG(status.st_mode) and status.st_size <= PARALLEL_BYTES


def decide(policy: str, input_path: str = "-", output_path: str = "-", jobs: int | None = None,
           quiet: bool = False) -> NoReturn:
    """`parcours decide POLICY [-i IN] [-o OUT] [-j N] [-q]`, as the command runs it
    (cli/decide.py) with its other options at their defaults."""
    from .common import EXIT_OK, EXIT_PROBLEMS, bind, echo_error, load
    from .jobs import cores
    from .stream import decide_lines

    module = load(policy)
    gc.freeze()  # what start-up made lives to the end: no collection goes over it again
    gc.enable()
    function = bind(module, {}, False)
    decided, rejected = decide_lines(module, function, input_path, output_path, quiet,
                                     jobs or cores())
    if not quiet:
        echo_error(f"{decided} decided, {rejected} rejected")
    raise SystemExit(EXIT_PROBLEMS if rejected else EXIT_OK)
