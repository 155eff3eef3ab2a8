"""Writing outputs: a regular file is replaced atomically, so a reader sees the old file or
the new one, never half of one (standard library only, usable from every layer)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


@contextmanager
def atomic_output(target: str | os.PathLike[str]) -> Iterator[TextIO]:
    """A text file to stream into; it replaces `target` only when the block succeeds, so a
    reader sees the old file or the new one, never half, and a failure leaves nothing."""
    target_path = Path(target)
    directory = target_path.parent if str(target_path.parent) else Path(".")
    # A fresh name beside the target (os.replace is atomic within a folder), opened with "x"
    # so that it gets the usual permissions (umask), not mkstemp's 0600.
    tmp = directory / f".{target_path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        with open(tmp, "x", encoding="utf-8", newline="\n", buffering=1 << 20) as handle:
            yield handle
        os.replace(tmp, target_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomically(target: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `target` atomically (see `atomic_output`)."""
    with atomic_output(target) as handle:
        handle.write(text)
