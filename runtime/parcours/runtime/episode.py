"""Episode validation: the error paths generated modules call when a field is wrong.

The happy path is inlined in each generated `decide` (type checks, ranges,
enum membership); these functions only build the clear error.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import NoReturn
from datetime import date

from .errors import EpisodeError, quoted, shown
from .money import describe

_EXPECTED = {"bool": "true or false", "int": "a whole number", "str": "a string",
             "date": "a date YYYY-MM-DD", "object": "an object",
             "id": "an id (a non-empty string of at most 200 characters)"}


def episode_id(episode: object) -> object:
    """The episode's `id`, when it has a usable one (for error messages)."""
    if isinstance(episode, Mapping):
        value = episode.get("id")
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return value
    return None


def bad_value(episode_id: object, field: str, value: object, expected: str) -> EpisodeError:
    if value is None:
        return EpisodeError(episode_id, field, f"missing (expected {_EXPECTED.get(expected, expected)})")
    return EpisodeError(episode_id, field,
                        f"expected {_EXPECTED.get(expected, expected)}, got {describe(value)}")


def bad_enum(episode_id: object, field: str, value: object,
             members: Collection[str]) -> EpisodeError:
    if value is None:
        return EpisodeError(episode_id, field, "missing (expected one of: "
                            + ", ".join(sorted(members)) + ")")
    return EpisodeError(episode_id, field, f"{describe(value)} is not one of: "
                        + ", ".join(sorted(members)))


def out_of_range(episode_id: object, field: str, value: int, low: int | None,
                 high: int | None) -> EpisodeError:
    bounds = f"{low if low is not None else '…'}..{high if high is not None else '…'}"
    return EpisodeError(episode_id, field, f"{shown(value)} is outside {bounds}")


def bad_date(episode_id: object, field: str, value: object) -> EpisodeError:
    if isinstance(value, str):
        return EpisodeError(episode_id, field, f"{quoted(value)} is not a date YYYY-MM-DD")
    return bad_value(episode_id, field, value, "date")


def outside_validity(episode_id: object, day: date, start: date,
                     until: date | None) -> EpisodeError:
    span = f"from {start}" + (f" until {until}" if until else "")
    return EpisodeError(episode_id, "date", f"{day} is outside the policy's validity ({span})")


def wrong_currency(episode_id: object, episode: Mapping[str, object], policy: str,
                   currency: str) -> EpisodeError | None:
    """The rejection of an episode whose optional top-level `currency` is not the policy's
    (None when it agrees): `episode in MAD, policy nhs decides in GBP`."""
    given = episode.get("currency")
    if given == currency:
        return None
    if type(given) is not str:
        return EpisodeError(episode_id, "currency", "expected a currency code such as "
                            f"{quoted(currency)}, got {describe(given)}")
    return EpisodeError(episode_id, "currency",
                        f"episode in {shown(given)}, policy {policy} decides in {currency}")


def unknown_field(episode_id: object, section: Mapping[str, object], allowed: Collection[str],
                  prefix: str) -> EpisodeError:
    extra = sorted(str(k) for k in section if k not in allowed)
    name = extra[0] if extra else "?"
    if not name:
        where = f"in {prefix[:-1]}" if prefix else "at the top of the episode"
        return EpisodeError(episode_id, "", f"empty field name {where}")
    import difflib

    close = difflib.get_close_matches(name, sorted(allowed), n=1) if len(name) <= 100 else []
    hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
    return EpisodeError(episode_id, prefix + shown(name), f"unknown field{hint}")


def not_an_object(episode_id: object, field: str, value: object) -> EpisodeError:
    if value is None:
        return EpisodeError(episode_id, field, "missing (expected an object)")
    return EpisodeError(episode_id, field, f"expected an object, got {describe(value)}")


def broken_constraint(episode_id: object, field: str, name: str, text: str) -> EpisodeError:
    return EpisodeError(episode_id, field, f"breaks constraint {name}: {text}")


def field_error(episode_id: object, section: Mapping[str, object], allowed: Collection[str],
                prefix: str, error: EpisodeError) -> EpisodeError:
    """`error`, unless the section also holds an unknown field: a typo is the likelier cause."""
    if any(key not in allowed for key in section):
        return unknown_field(episode_id, section, allowed, prefix)
    return error


def money_missing(episode_id: object, section: Mapping[str, object], allowed: Collection[str],
                  prefix: str, field: str) -> NoReturn:
    raise field_error(episode_id, section, allowed, prefix,
                      EpisodeError(episode_id, field, "missing (an amount is required)"))


def missing_field(episode_id: object, episode: Mapping[str, object],
                  shape: tuple[tuple[str, frozenset[str]], ...], missing: Exception) -> EpisodeError:
    """The clearest error for an absent field or a section that is not an object.

    Unknown fields come first: a typo is the likelier cause of a missing one.
    """
    key = str(missing.args[0]) if isinstance(missing, KeyError) and missing.args else "?"
    for section, allowed in shape:
        fields = episode if not section else episode.get(section)
        if not isinstance(fields, dict):
            if section and section in episode:
                return not_an_object(episode_id, section, fields)
            continue
        prefix = f"{section}." if section else ""
        if any(k not in allowed for k in fields):
            return unknown_field(episode_id, fields, allowed, prefix)
        if key in allowed and key not in fields:
            what = "an object" if not section and key != "date" else "a value"
            return EpisodeError(episode_id, prefix + key, f"missing (expected {what})")
    return EpisodeError(episode_id, key, "missing")
