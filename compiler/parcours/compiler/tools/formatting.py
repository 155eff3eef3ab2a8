"""A policy formatted, with its meaning checked on the IR: the layout (`format`) already
refuses an output that does not parse to the same tree; here the formatted text is also
checked and lowered to IR, which must print the same as the original's (`ir.printer`),
whenever the original itself checks without errors.  `parcours fmt` and the language
server's formatting both go through `format_policy`."""

from __future__ import annotations

import os

from ..format import FormatError, format_text
from ..ir.printer import print_program
from ..pipeline import analyse


def format_policy(path: str | os.PathLike[str], text: str, check_ir: bool = True) -> str:
    """The canonical layout of `text` (the policy at `path`, whose imports are read beside
    it); FormatError when the formatter refuses it or the IR would change."""
    formatted = format_text(text)
    if not check_ir or formatted == text:
        return formatted
    before = analyse(path, text.encode("utf-8"), verify=False)
    if before.program is None:
        return formatted  # a policy with errors: the tree check of `format_text` stands
    after = analyse(path, formatted.encode("utf-8"), verify=False)
    if after.program is None or print_program(after.program) != print_program(before.program):
        raise FormatError("the formatted policy would not lower to the same IR; the file is "
                          "left as it is")
    return formatted
