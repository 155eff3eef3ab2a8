"""Errors a decision can raise: a bad episode, a bad override, a policy that fails to decide."""

from __future__ import annotations


class EpisodeError(ValueError):
    """An episode that breaks the contract; it gets no decision."""

    def __init__(self, episode_id: object, field: str, message: str) -> None:
        self.episode_id = episode_id
        self.field = field
        self.message = message
        who = f"episode {episode_id}" if episode_id is not None else "episode"
        super().__init__(f"{who}: field {field}: {message}" if field else f"{who}: {message}")

    def to_dict(self) -> dict[str, object]:
        return {"id": self.episode_id, "field": self.field, "error": self.message}


class OverrideError(ValueError):
    """A `--set NAME=VALUE` that names no parameter or gives a value of the wrong type."""


class PolicyGap(RuntimeError):
    """No rule or branch applied: the static verifier rules this out for a checked policy."""
