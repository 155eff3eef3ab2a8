"""A policy run by the reference interpreter, with a generated module's API.

:class:`InterpretedPolicy` holds an ``ir.Program`` and decides episodes by walking
it: `decide(episode, params)`, `explain(episode, params)`, `with_overrides(sets)`,
and the constants the CLI and the tools read (`POLICY`, `PARAMETERS`, `SHAPE`,
`DEFAULTS`, `N_PERIODS`).  :func:`as_module` wraps one in a module object, so that
whatever takes a generated module takes it too.
"""

from __future__ import annotations

import types
from bisect import bisect_right
from collections.abc import Mapping
from typing import Any

from parcours.runtime import (Decision, EpisodeError, OverrideError, PolicyGap, PolicyMeta, Step,
                              Trace, apply_overrides, branch_steps, broken_constraint, rule_steps)

from .. import ir
from .evaluate import Env, Evaluator, Outcome
from .meta import Citations, parameters, periods, policy_meta
from .validate import shape_of, validate


def _first_input(e: ir.Expr) -> str:
    for node in ir.walk(e):
        if isinstance(node, ir.Input):
            return node.path
    return ""


class InterpretedPolicy:
    """One policy's decisions, computed from its IR (no generated code)."""

    def __init__(self, program: ir.Program) -> None:
        self.program = program
        starts = periods(program)
        self.bounds = starts[1:]
        self.N_PERIODS = len(starts)
        table = parameters(program, starts)
        self.Parameters = table.cls
        self.DEFAULTS: Any = table.defaults
        self.PARAMETERS = table.specs
        self._shape = shape_of(program)
        self.SHAPE = self._shape.shape
        self._evaluator = Evaluator(program)
        cites = Citations(program, starts)
        self._rule_infos = cites.rule_infos()
        self._rule_names = tuple(r.name for r in program.rules)
        self._declared = tuple(o.name for o in program.decision.outputs)
        rule_sources = cites.rule_sources()
        self._branch_infos = {}
        branch_sources = []
        for out in program.outputs:
            self._branch_infos[out.name], sources = cites.branches(out)
            branch_sources.append(sources)

        def sources_of(path: tuple[int, ...]) -> tuple[tuple[str, ...], ...]:
            period = path[-1]
            return (rule_sources[path[0]],) + tuple(
                per_branch[index][period] for per_branch, index in zip(branch_sources, path[1:]))

        self.POLICY: PolicyMeta = policy_meta(program, sources_of)
        self.ACCUMULATORS = ir.accumulator_specs(program)
        self.OUTPUTS = self.POLICY.outputs
        self.PATHWAYS = self.POLICY.pathways
        self._constraint_text = {
            c.name: (_first_input(c.requirement),
                     f"{ir.format_expr(c.condition)} requires {ir.format_expr(c.requirement)}")
            for c in program.constraints}

    def with_overrides(self, overrides: Mapping[str, str]) -> Any:
        """Parameters for a what-if run; raises OverrideError for an unknown name or a bad value."""
        return apply_overrides(self.DEFAULTS, self.PARAMETERS, self.N_PERIODS, overrides)

    def decide(self, episode: Mapping[str, object], params: Any = None) -> Decision:
        """Validate one JSON-decoded episode and decide it; raises EpisodeError if it is invalid."""
        return self._decision(episode, self.DEFAULTS if params is None else params, False)

    def explain(self, episode: Mapping[str, object], params: Any = None) -> Decision:
        """`decide`, with the trace: every rule in priority order and every branch considered."""
        return self._decision(episode, self.DEFAULTS if params is None else params, True)

    def _decision(self, episode: Mapping[str, object], params: Any, explain: bool) -> Decision:
        episode_id, inputs = validate(self._shape, episode)
        env = Env(inputs, params, 0)
        broken = self._evaluator.constraint_broken(env)
        if broken is not None:
            field, text = self._constraint_text[broken.name]
            raise broken_constraint(episode_id, field, broken.name, text)
        env.period = bisect_right(self.bounds, inputs["date"])  # type: ignore[call-overload]
        outcome = self._evaluator.run(env, explain)
        out = env.outputs
        path = ((outcome.rule,) + tuple(outcome.branches[o.name] for o in self.program.outputs)
                + (env.period,))
        trace = Trace(self._steps(outcome, env)) if explain else None
        return Decision(episode_id, self.POLICY, env.pathway, self._rule_names[outcome.rule],
                        tuple(out[name] for name in self._declared), path, params.overrides,
                        trace)

    def _steps(self, outcome: Outcome, env: Env) -> tuple[Step, ...]:
        steps = rule_steps(self._rule_infos, outcome.rule_conditions,  # type: ignore[arg-type]
                           outcome.rule)
        for out in self.program.outputs:
            steps += branch_steps(self._branch_infos[out.name], outcome.branches[out.name],
                                  str(env.outputs[out.name]))
        return tuple(steps)


def as_module(program: ir.Program) -> types.ModuleType:
    """The interpreted policy as a module object with a generated module's names."""
    policy = InterpretedPolicy(program)
    module = types.ModuleType(f"parcours_interpreted_{program.policy.id}",
                              f"Policy `{program.policy.id}`, run by the reference interpreter.")
    for name in ("POLICY", "OUTPUTS", "PATHWAYS", "PARAMETERS", "SHAPE", "DEFAULTS", "N_PERIODS", "Parameters",
                 "ACCUMULATORS", "decide", "explain", "with_overrides"):
        setattr(module, name, getattr(policy, name))
    # The types a generated module exports too (its Decision is a subclass of this one).
    for name, value in (("Decision", Decision), ("EpisodeError", EpisodeError),
                        ("OverrideError", OverrideError), ("PolicyGap", PolicyGap)):
        setattr(module, name, value)
    module.__dict__["interpreted"] = policy
    return module
