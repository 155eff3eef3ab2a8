"""The parcours runtime: what generated decision modules import (standard library only).

`__all__` is the contract between the code generator and the runtime: a
generated module imports exactly these names, and nothing else outside the
standard library.  The runtime holds no global state.
"""

from .batch import BatchStats, DecisionWriter, Rejection, decide_stream, decision_json
from .lines import read_episodes
from .decision import Decision, PolicyMeta
from .episode import (bad_date, bad_enum, bad_value, broken_constraint, field_error,
                      missing_field, money_missing, not_an_object, out_of_range, outside_validity, unknown_field)
from .errors import EpisodeError, OverrideError, PolicyGap
from .money import format_money, format_rate, to_money, to_rate
from .params import ParamSpec, apply_overrides
from .trace import Step, StepInfo, Trace, branch_steps, render, rule_steps

__all__ = [
    "BatchStats", "Decision", "DecisionWriter", "EpisodeError", "OverrideError", "ParamSpec",
    "PolicyGap", "PolicyMeta", "Rejection", "Step", "StepInfo", "Trace", "apply_overrides",
    "bad_date", "bad_enum", "bad_value", "branch_steps", "broken_constraint", "decide_stream",
    "decision_json", "field_error", "format_money", "format_rate", "missing_field",
    "money_missing", "not_an_object", "out_of_range", "outside_validity", "read_episodes",
    "render", "rule_steps", "to_money", "to_rate", "unknown_field",
]
