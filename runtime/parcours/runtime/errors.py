"""Errors a decision can raise: a bad episode, a bad override, a policy that fails to decide.

Also how a message quotes what it was given: `shown` and `quoted` cut a long value to its
first characters and say how long it was; `one_line` makes a message safe to write as
one line of UTF-8, whatever the episode held.
"""

from __future__ import annotations

import re

LIMIT = 40  # characters of a value quoted in a message

# Characters that would break a line of text or of UTF-8: C0 controls, DEL, NEL, the
# Unicode line and paragraph separators, and lone surrogates (valid in JSON's \u escapes,
# not encodable as UTF-8).
# Compiled on first use (re's cache): text that is all printable ASCII never needs it, and
# compiling the class costs more than a one-episode run's start-up can spare.
_UNSAFE = "[\x00-\x1f\x7f\x85\u2028\u2029\ud800-\udfff]"


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def one_line(text: str) -> str:
    """`text` with line breaks, control characters and lone surrogates written as \\uXXXX."""
    if text.isascii() and text.isprintable():
        return text
    return re.sub(_UNSAFE, _escape, text)


def _text(value: object) -> str:
    try:
        return str(value)
    except ValueError:  # an int too long to convert to decimal text
        return f"a number of {value.bit_length() if isinstance(value, int) else '?'} bits"


def shown(value: object, limit: int = LIMIT) -> str:
    """A value as written in a message: its first `limit` characters, then how long it
    was (`shown("9" * 4000)` ends with `…(4000 characters)`)."""
    text = value if isinstance(value, str) else _text(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…({len(text)} characters)"


def quoted(text: str, limit: int = LIMIT) -> str:
    """A string as written in a message, in quotes (its repr), cut like `shown`."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}…({len(text)} characters)"


class EpisodeError(ValueError):
    """An episode that breaks the contract; it gets no decision."""

    def __init__(self, episode_id: object, field: str, message: str) -> None:
        self.episode_id = episode_id
        self.field = field
        self.message = message
        who = f"episode {shown(episode_id)}" if episode_id is not None else "episode"
        super().__init__(one_line(f"{who}: field {field}: {message}" if field
                                  else f"{who}: {message}"))

    def to_dict(self) -> dict[str, object]:
        return {"id": self.episode_id, "field": self.field, "error": self.message}


class OverrideError(ValueError):
    """A what-if override (`with_overrides({"name": "value"})`) that names no parameter or
    gives a value of the wrong type.

    `setting` is the override as given (`name=value`, or a name alone), `reason` what is
    wrong with it; the message reads `override name=value: reason`, and the command line
    words the same error `as_option("--set")`: `--set name=value: reason`.
    """

    def __init__(self, setting: str, reason: str) -> None:
        self.setting = setting
        self.reason = reason
        super().__init__(self.as_option("override"))

    def as_option(self, option: str) -> str:
        """The message with the override introduced by `option` (`--set name=value: …`)."""
        return one_line(f"{option} {self.setting}: {self.reason}")


class PolicyGap(RuntimeError):
    """No rule or branch applied: the static verifier rules this out for a checked policy."""
