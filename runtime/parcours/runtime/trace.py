"""Explanations: the rules and branches a decision considered, with their sources."""

from __future__ import annotations

from .record import Frozen

_set = object.__setattr__


class StepInfo(Frozen):
    """What a generated module knows statically about one rule or branch."""

    __slots__ = ("target", "name", "priority", "outcome", "condition", "sources", "remarks",
                 "location")
    target: str  # "pathway" or an output name
    name: str  # the rule id, or "when" / "else" / "always"
    priority: int | None
    outcome: str  # the pathway a rule gives; "" for a branch
    condition: str  # the condition as written in the policy
    sources: tuple[str, ...]  # the documents it cites
    remarks: tuple[tuple[str, str], ...]  # (unconfirmed | assumption | note, text)
    location: str  # "france.parcours:42:3"

    def __init__(self, target: str, name: str, priority: int | None, outcome: str,
                 condition: str, sources: tuple[str, ...], remarks: tuple[tuple[str, str], ...],
                 location: str) -> None:
        self._fill(target, name, priority, outcome, condition, sources, remarks, location)


class Step(Frozen):
    __slots__ = ("info", "status", "value")
    info: StepInfo
    status: str  # "applied" | "overridden" | "not applicable" | "not reached"
    value: str  # for the branch that applied: the value it gave

    def __init__(self, info: StepInfo, status: str, value: str = "") -> None:
        # made for every step of every explained decision: three direct sets, not `_fill`
        # (its loop costs about as much again)
        _set(self, "info", info)
        _set(self, "status", status)
        _set(self, "value", value)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "target": self.info.target, "name": self.info.name, "status": self.status,
            "condition": self.info.condition, "sources": list(self.info.sources),
            "location": self.info.location,
        }
        if self.info.priority is not None:
            out["priority"] = self.info.priority
        if self.info.outcome:
            out["outcome"] = self.info.outcome
        if self.value:
            out["value"] = self.value
        if self.info.remarks:
            out["remarks"] = [{"kind": k, "text": t} for k, t in self.info.remarks]
        return out


class Trace(Frozen):
    __slots__ = ("steps",)
    steps: tuple[Step, ...]

    def __init__(self, steps: tuple[Step, ...]) -> None:
        self._fill(steps)

    def to_list(self) -> list[dict[str, object]]:
        return [step.to_dict() for step in self.steps]


def rule_steps(infos: tuple[StepInfo, ...], conditions: tuple[bool, ...],
               chosen: int) -> list[Step]:
    """Every rule in priority order: the one applied, the ones it overrode, the rest."""
    steps = []
    for index, (info, holds) in enumerate(zip(infos, conditions)):
        if index == chosen:
            status = "applied"
        elif holds:
            status = "overridden"
        else:
            status = "not applicable"
        steps.append(Step(info, status))
    return steps


def branch_steps(infos: tuple[StepInfo, ...], chosen: int, value: str) -> list[Step]:
    """The branches of one output, up to and including the one that gave its value."""
    steps = []
    for index, info in enumerate(infos):
        if index < chosen:
            steps.append(Step(info, "not applicable"))
        elif index == chosen:
            steps.append(Step(info, "applied", value))
        else:
            steps.append(Step(info, "not reached"))
    return steps


_MARK = {"applied": "✔", "overridden": "·", "not applicable": "✘", "not reached": " "}


def render(trace: Trace, source_titles: dict[str, str] | None = None) -> str:
    """A readable "why", rule by rule, for `parcours explain`."""
    lines: list[str] = []
    target = ""
    for step in trace.steps:
        info = step.info
        if info.target != target:
            target = info.target
            lines.append("")
            lines.append(f"{target}:")
        if info.target == "pathway":
            head = (f"  {_MARK[step.status]} {info.name}"
                    + (f" (priority {info.priority})" if info.priority is not None else " (default)")
                    + f" → {info.outcome}: {step.status}")
            lines.append(head)
            lines.append(f"      when {info.condition}" if info.priority is not None
                         else "      otherwise")
        else:
            if step.status == "not reached":
                continue
            shown = f" = {step.value}" if step.value else ""
            lines.append(f"  {_MARK[step.status]} {info.name} {info.condition}{shown}: {step.status}")
        if step.status == "applied" or info.target == "pathway" and step.status == "overridden":
            if info.sources:
                lines.append("      sources: " + "; ".join(info.sources))
            for kind, text in info.remarks:
                lines.append(f"      {kind}: {text}")
            lines.append(f"      at {info.location}")
    return "\n".join(lines).lstrip("\n")
