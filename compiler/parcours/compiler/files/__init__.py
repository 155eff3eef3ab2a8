"""Writing outputs: the one writer behind every file a command writes (standard library only,
usable from every layer).

- A regular file, or a path that does not exist yet, is replaced atomically: the text goes to
  a temporary `.NAME.parcours-tmp.PID` beside the target, which is flushed, synced to disk
  (a long one is sent to disk as it is written) and renamed over the target; the folder is
  then synced (best effort).  A reader sees the old file or the complete new one, never
  half of one.  A symbolic link is followed to its final target, which gets the output;
  the link stays a link.  A new file gets the usual permissions (umask), a replaced file
  keeps its mode (and, where allowed, its owner).
- Anything else that can be opened for writing (a character or block device such as
  `/dev/null`, a FIFO) is written in place, streamed, never replaced.
- `standard_output()` streams to standard output.

Every failure is an `OutputError` that names the target as the caller gave it; the old
target is then untouched and no temporary is left behind.  A process killed outright
(`kill -9`) cannot clean up: its temporary stays until the next write to the same target,
which removes the temporaries of processes that are no longer running and says so.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TextIO

TEMPORARY_MARK = ".parcours-tmp."
_BUFFER = 1 << 20
WRITE_BEHIND = 32 << 20  # bytes of a replacing file between two requests to write to disk
_ACTIVE: set[str] = set()  # temporaries this process is writing now


class Sink(Protocol):
    """Where text goes: an output file, or standard output."""

    def write(self, text: str, /) -> int: ...


class OutputError(OSError):
    """An output that cannot be written; `str()` is one line: `cannot write TARGET: REASON`."""

    def __init__(self, target: str, reason: str, code: int | None = None) -> None:
        super().__init__(code, reason)
        self.target = target

    def __str__(self) -> str:
        return f"cannot write {self.target}: {self.strerror}"


def _error(target: str, exc: OSError) -> OutputError:
    if isinstance(exc, OutputError):
        return exc
    return OutputError(target, exc.strerror or str(exc), exc.errno)


class _Raw(io.FileIO):
    """The file descriptor under the text layer: its write errors name the target.

    `behind`: a temporary that is synced to disk once written.  Every `WRITE_BEHIND` bytes
    the system is asked to start writing them to disk (`posix_fadvise`), while the rest is
    still being made, so that the final sync waits for the last part only rather than for
    the whole file (a fifth of a second for the 500 MB of a million decisions); the part
    asked for the step before, on disk by then, leaves memory.  The file's cached pages stay
    a few tens of megabytes, recycled as it grows, rather than taking fresh memory for all
    of it (on a virtual machine, fresh pages cost several times what writing them does);
    reading the file afterwards reads the disk."""

    def __init__(self, fd: int, target: str, behind: bool = False) -> None:
        super().__init__(fd, "w", closefd=True)
        self.target = target
        self.behind = behind and hasattr(os, "posix_fadvise")
        # bytes written; bytes whose writing to disk was asked for; bytes let go of
        self.written = self.started = self.released = 0

    def write(self, data: Any, /) -> int:  # any buffer, as io.FileIO takes
        try:
            count: int = super().write(data)
        except OSError as exc:
            raise _error(self.target, exc) from None
        if self.behind:
            self.written += count
            if self.written - self.started >= WRITE_BEHIND:
                self._write_behind()
        return count

    def _write_behind(self) -> None:
        # POSIX_FADV_DONTNEED drops a range's clean pages and starts writing its dirty ones
        # to disk, without waiting (Linux): the range asked for the step before is dropped,
        # the new one sent.  Advice only: a refusal changes nothing but stops the asking.
        try:
            if self.started > self.released:
                os.posix_fadvise(self.fileno(), self.released, self.started - self.released,
                                 os.POSIX_FADV_DONTNEED)
            os.posix_fadvise(self.fileno(), self.started, self.written - self.started,
                             os.POSIX_FADV_DONTNEED)
        except OSError:
            self.behind = False
        self.released, self.started = self.started, self.written


def _text(fd: int, target: str, behind: bool = False) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BufferedWriter(_Raw(fd, target, behind), _BUFFER),
                            encoding="utf-8", newline="\n")


def _close_quietly(handle: io.TextIOWrapper) -> None:
    """Close after a failure: the descriptor is released even if the last flush fails."""
    try:
        handle.close()
    except OSError:
        pass


def _note_on_stderr(message: str) -> None:
    sys.stderr.write(f"note: {message}\n")


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it belongs to someone else
    except OSError:
        return False
    return True


def remove_stale_temporaries(target: str | os.PathLike[str],
                             note: Callable[[str], object] = _note_on_stderr) -> list[str]:
    """Remove the temporaries of `target` left by processes that are no longer running
    (a `kill -9`, a power cut); returns their paths.  A temporary whose process still runs
    (another write to the same target) is left alone."""
    given = os.fspath(target)
    directory, name = os.path.split(os.path.realpath(given))
    # Name them as the caller named the target's folder, unless a link leads elsewhere.
    shown_folder = os.path.dirname(given)
    if os.path.realpath(shown_folder or ".") != directory:
        shown_folder = directory
    prefix = f".{name}{TEMPORARY_MARK}"
    removed: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        suffix = entry.name[len(prefix):]
        if not entry.name.startswith(prefix) or not (suffix.isascii() and suffix.isdigit()):
            continue
        pid = int(suffix)
        if entry.path in _ACTIVE or (pid != os.getpid() and _alive(pid)):
            continue
        try:
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(entry.path)
        note(f"removed {os.path.join(shown_folder, entry.name)}, a temporary left by process "
             f"{pid}, which is no longer running")
    return removed


def _sync_folder(directory: str) -> None:
    """Make the rename durable; some systems cannot sync a folder, which is not an error."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def _replace(shown: str, real: str, old: os.stat_result | None,
             note: Callable[[str], object]) -> Iterator[TextIO]:
    directory, name = os.path.split(real)
    remove_stale_temporaries(shown, note)
    tmp = os.path.join(directory, f".{name}{TEMPORARY_MARK}{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        if exc.errno == errno.ENOENT and not os.path.isdir(directory):
            raise _error(shown, exc) from None  # the folder is missing
        raise OutputError(shown, f"cannot create a temporary file in {directory or '.'} "
                                 f"({exc.strerror})", exc.errno) from None
    _ACTIVE.add(tmp)
    handle: io.TextIOWrapper | None = None
    try:
        if old is not None:
            try:
                os.fchmod(fd, stat.S_IMODE(old.st_mode))
                if (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
                    os.fchown(fd, old.st_uid, old.st_gid)
            except PermissionError:
                pass  # only the owner's mode can be kept, not the ownership
        handle = _text(fd, shown, behind=True)
        yield handle
        handle.flush()
        try:
            os.fsync(fd)
        except OSError as exc:
            raise _error(shown, exc) from None
        handle.close()
        try:
            os.replace(tmp, real)
        except OSError as exc:
            raise _error(shown, exc) from None
    except BaseException:
        if handle is None:
            os.close(fd)
        else:
            _close_quietly(handle)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    finally:
        _ACTIVE.discard(tmp)
    _sync_folder(directory or ".")


@contextmanager
def _in_place(shown: str, real: str) -> Iterator[TextIO]:
    try:
        fd = os.open(real, os.O_WRONLY | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise _error(shown, exc) from None
    handle = _text(fd, shown)
    try:
        yield handle
        handle.flush()
    except BaseException:
        _close_quietly(handle)
        raise
    handle.close()


@contextmanager
def open_output(target: str | os.PathLike[str],
                note: Callable[[str], object] = _note_on_stderr) -> Iterator[TextIO]:
    """A text stream (UTF-8, `\\n`) into `target`; see the module's documentation.

    A regular file is replaced only when the block succeeds; if it fails, the old file is
    untouched and the temporary removed.  Every failure to write is an `OutputError`.
    `note` receives the one-line notices about stale temporaries that were removed."""
    shown = os.fspath(target)
    real = os.path.realpath(shown)
    try:
        old: os.stat_result | None = os.stat(real)
    except FileNotFoundError:
        old = None
    except OSError as exc:
        raise _error(shown, exc) from None
    if old is None and shown.endswith(os.sep):
        raise OutputError(shown, "a file name cannot end with a slash", errno.EISDIR)
    if old is not None and stat.S_ISDIR(old.st_mode):
        raise OutputError(shown, os.strerror(errno.EISDIR), errno.EISDIR)
    if old is None or stat.S_ISREG(old.st_mode):
        with _replace(shown, real, old, note) as handle:
            yield handle
    else:
        with _in_place(shown, real) as handle:
            yield handle


def write_output(target: str | os.PathLike[str], text: str,
                 note: Callable[[str], object] = _note_on_stderr) -> None:
    """Write `text` to `target` (see `open_output`)."""
    with open_output(target, note) as handle:
        handle.write(text)


class _Guarded:
    """A text stream whose write errors are `OutputError`s naming it."""

    def __init__(self, stream: TextIO, name: str) -> None:
        self._stream = stream
        self._name = name

    def write(self, text: str, /) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise _error(self._name, exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise _error(self._name, exc) from None


@contextmanager
def standard_output() -> Iterator[Sink]:
    """Standard output as a sink, flushed at the end of the block; write errors (a closed
    pipe, a full disk) are `OutputError`s for `standard output` (a closed pipe has
    `errno == errno.EPIPE`)."""
    sink = _Guarded(sys.stdout, "standard output")
    yield sink
    sink.flush()


# The names before outputs other than regular files were written in place.
atomic_output = open_output
write_atomically = write_output

__all__ = ["OutputError", "Sink", "TEMPORARY_MARK", "atomic_output", "open_output",
           "remove_stale_temporaries", "standard_output", "write_atomically", "write_output"]
