"""The parcours runtime (standard library only): what generated decision modules import,
and what the command line and the tools build on.

Two lists, two audiences:

- `abi.GENERATED_IMPORTS` is the contract between the code generator and the runtime:
  a generated module imports exactly these names, and checks on import that the
  installed runtime has the `ABI_VERSION` it was generated for (`docs/backends.md`).
- `__all__` is every public name: the ABI's, plus what the command line and the tools
  use (streaming, JSON, rendering, money formatting, the rounding table, the money
  limit).  Nothing outside the runtime imports one of its private `_names`.

The runtime holds no global state.
"""

from .abi import ABI_VERSION, GENERATED_IMPORTS
from .batch import (BLOCK_BYTES, UNDECIDED, BatchStats, Block, DecisionWriter, Encoded,
                    Rejection, blocks, decide_block, decide_stream, decided, decision_json,
                    undecided)
from .ledger import (DEFAULT_BUFFER, AccumulatorSpec, Ledger, Slot, StateError,
                     decide_with_state, period_of, specs_of, state_line)
from .order import (InputOrder, in_key_order, key_owner, key_reader, ledger_lines, slot_owner,
                    sorted_lines, two_pass)
from .lines import Unreadable, json_safe, lines_in, parse_episode, read_episodes
from .decision import OUTPUT_KINDS, ROLES, Decision, OutputField, PolicyMeta
from .episode import (bad_date, bad_enum, bad_value, broken_constraint, episode_id, field_error,
                      missing_field, money_missing, not_an_object, out_of_range, outside_validity,
                      unknown_field, wrong_currency)
from .errors import EpisodeError, OverrideError, PolicyGap, one_line, shown
from .money import (MAX_AMOUNT, MINOR_UNITS, ROUNDING, format_money, format_rate, to_money, to_rate,
                    unit_of, unit_text)
from .params import KEY_SEPARATOR, ParamSpec, apply_overrides, key_text, split_name
from .record import Frozen, Record
from .trace import Step, StepInfo, Trace, branch_steps, render, rule_steps

__all__ = [
    "AccumulatorSpec", "DEFAULT_BUFFER", "InputOrder", "Ledger", "Slot", "StateError",
    "decide_with_state", "in_key_order", "ledger_lines", "period_of", "sorted_lines", "specs_of",
    "state_line", "two_pass", "key_owner", "key_reader", "slot_owner",
    "ABI_VERSION", "BLOCK_BYTES", "BatchStats", "Block", "Decision", "DecisionWriter", "Encoded",
    "EpisodeError", "Frozen",
    "GENERATED_IMPORTS", "KEY_SEPARATOR", "MAX_AMOUNT", "MINOR_UNITS", "OUTPUT_KINDS",
    "OutputField", "ROLES", "OverrideError", "ParamSpec", "PolicyGap", "PolicyMeta",
    "ROUNDING", "Record", "Rejection", "Step", "StepInfo", "Trace", "Unreadable", "apply_overrides",
    "bad_date", "bad_enum", "bad_value", "blocks", "branch_steps", "broken_constraint",
    "decide_block", "decide_stream", "decided", "UNDECIDED", "undecided",
    "decision_json", "episode_id", "field_error", "format_money", "format_rate", "json_safe",
    "lines_in", "key_text",
    "missing_field", "money_missing", "not_an_object", "one_line", "out_of_range",
    "outside_validity", "parse_episode", "read_episodes", "render", "rule_steps", "shown",
    "split_name", "to_money", "to_rate", "unit_of", "unit_text", "unknown_field", "wrong_currency",
]
