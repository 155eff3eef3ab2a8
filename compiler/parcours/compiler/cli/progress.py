"""Progress on long runs (`decide`, `population`, `compare`): one line on stderr, redrawn in
place, with the episodes done, the rate and, when the total is known, the share done and
the time left.

Shown only when stderr is a terminal and `--quiet` is not given: piped or redirected,
nothing extra is written. It costs a counter per episode: the clock is read only every
`step` episodes (the step adapts so that the clock is read about 50 times a second), and
the line is redrawn at most 10 times a second."""

from __future__ import annotations

import os
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, TypeVar

T = TypeVar("T")

REDRAW_SECONDS = 0.1   # at most 10 redraws a second
CHECK_SECONDS = 0.02   # aim: read the clock about 50 times a second


def wanted(quiet: bool, stream: IO[str] | None = None) -> bool:
    """Progress is for a person watching a terminal: not with --quiet, not when piped."""
    if quiet:
        return False
    stream = sys.stderr if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _duration(seconds: float) -> str:
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Counts episodes and redraws one status line.

    `total` is a known number of episodes (population), or None; `position` and `size`
    give a cheaper total for a file input: the bytes read so far against the file's
    size."""

    def __init__(self, label: str, stream: IO[str], total: int | None = None,
                 position: Callable[[], int] | None = None, size: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self.stream, self.total = label, stream, total
        self.second_label = label  # the label after `restart`
        self.position, self.size = position, size
        self.clock = clock
        self.done = 0
        self.step = 64
        self.next_check = self.step
        self.started = self.last_check = self.last_draw = clock()
        self.width = 0  # of the line on screen, 0 when none is
        self.shown = 0  # rejections already written by an attempt that started over

    def tick(self, count: int = 1) -> None:
        """`count` more episodes; cheap unless a clock check is due."""
        self.done += count
        if self.done >= self.next_check:
            self._check()

    def _check(self) -> None:
        now = self.clock()
        elapsed = now - self.last_check
        # Adapt the step so that the clock is read about every CHECK_SECONDS.
        if elapsed > 0:
            rate = self.step / elapsed
            self.step = max(1, min(1 << 16, int(rate * CHECK_SECONDS)))
        self.last_check = now
        self.next_check = self.done + self.step
        if now - self.last_draw >= REDRAW_SECONDS:
            self.last_draw = now
            self.draw(now)

    def line(self, now: float) -> str:
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.label}: {self.done:,} episodes", f"{rate:,.0f}/s"]
        fraction: float | None = None
        if self.total:
            fraction = min(1.0, self.done / self.total)
        elif self.position is not None and self.size:
            try:
                fraction = min(1.0, self.position() / self.size)
            except (OSError, ValueError):
                fraction = None
        if fraction is not None:
            parts.append(f"{100 * fraction:3.0f}%")
            if 0 < fraction < 1 and elapsed > 0:
                parts.append(f"ETA {_duration(elapsed * (1 - fraction) / fraction)}")
        return "  ".join(parts)

    def draw(self, now: float) -> None:
        text = self.line(now)
        padding = " " * max(0, self.width - len(text))
        self._write("\r" + text + padding)
        self.width = len(text)

    def reject(self, rejections: Iterable[object]) -> None:
        """Each rejection on stderr as `rejected: TEXT`, the progress line removed first
        (but the first ones `again` says were written already)."""
        if self.shown:
            rejections = list(rejections)
            skipped = min(self.shown, len(rejections))
            rejections, self.shown = rejections[skipped:], self.shown - skipped
        text = "".join(f"rejected: {rejection}\n" for rejection in rejections)
        if text:
            self.clear()
            sys.stderr.write(text)

    def clear(self) -> None:
        """Remove the line (before another message, and at the end)."""
        if self.width:
            self._write("\r" + " " * self.width + "\r")
            self.width = 0

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a terminal gone away: progress is not worth a failure
            self.width = 0

    @property
    def active(self) -> bool:
        return True

    def first_pass(self, label: str = "reading") -> None:
        """The line says `label` until `restart`: a run with accumulators reads its input
        once (its order, a sort) before it decides."""
        self.label = label

    def again(self, shown: int) -> None:
        """The run starts over from its first episode (a guess about its input proved
        wrong): counted from zero, and its first `shown` rejections, written by the first
        attempt, are the same and not written again."""
        self._from_zero()
        self.shown = shown

    def restart(self, total: int) -> None:
        """A second pass over `total` episodes (a run sorted for its accumulators: the
        first pass read and sorted them, this one decides them)."""
        self.label = self.second_label
        self.total, self.position, self.size = total, None, None
        self._from_zero()

    def _from_zero(self) -> None:
        self.done, self.step, self.next_check = 0, 64, 64
        self.started = self.last_check = self.last_draw = self.clock()

    def counted(self, items: Iterable[T]) -> Iterator[T]:
        """`items` unchanged, one tick each."""
        for item in items:
            self.done += 1
            if self.done >= self.next_check:
                self._check()
            yield item


class NoProgress(Progress):
    """What a command holds when progress is not wanted: every call does nothing."""

    def __init__(self) -> None:
        super().__init__("", sys.stderr)

    def tick(self, count: int = 1) -> None:
        return None

    def clear(self) -> None:
        return None

    def restart(self, total: int) -> None:
        return None

    @property
    def active(self) -> bool:
        return False

    def counted(self, items: Iterable[T]) -> Iterator[T]:
        return iter(items)


def progress_for(label: str, quiet: bool, total: int | None = None,
                 source: IO[bytes] | None = None) -> Progress:
    """A progress line on stderr when wanted (see `wanted`), else one that does nothing.

    For a `source` that is a regular file, the bytes read against its size give the share
    done and the time left."""
    if not wanted(quiet):
        return NoProgress()
    position: Callable[[], int] | None = None
    size: int | None = None
    if source is not None:
        try:
            info = os.fstat(source.fileno())
            if stat.S_ISREG(info.st_mode) and info.st_size > 0:
                size, position = info.st_size, source.tell
        except (OSError, ValueError, AttributeError):
            size, position = None, None
    return Progress(label, sys.stderr, total=total, position=position, size=size)

