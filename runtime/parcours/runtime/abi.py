"""The runtime ABI: what a generated decision module may import from `parcours.runtime`.

A generated module imports exactly `GENERATED_IMPORTS` (and the standard library), and
records the `ABI_VERSION` it was generated for; on import it compares that with the
installed runtime's `ABI_VERSION` and refuses to load, with an `ImportError` naming both,
when they differ.  Bump `ABI_VERSION` whenever a name leaves or joins this list, or a
listed function, class or error changes its signature or meaning: modules generated
before then must be regenerated with `parcours compile`.

Everything else the runtime exports (`parcours.runtime.__all__`) is for the command line
and the tools (streaming, JSON, rendering) and may change without a new ABI.
"""

from __future__ import annotations

ABI_VERSION = 4

GENERATED_IMPORTS: tuple[str, ...] = (
    "Decision", "EpisodeError", "Frozen", "OutputField", "OverrideError", "ParamSpec", "PolicyGap",
    "PolicyMeta", "StepInfo", "Trace", "apply_overrides", "bad_date", "bad_enum", "bad_value",
    "branch_steps", "broken_constraint", "field_error",
    "missing_field", "money_missing", "out_of_range", "outside_validity", "rule_steps",
    "to_money", "to_rate", "unknown_field", "wrong_currency",
)

