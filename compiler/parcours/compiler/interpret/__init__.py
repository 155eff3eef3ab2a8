"""The reference interpreter: an ``ir.Program`` decides episodes without generated code.

The second semantics of the language, written from the IR: `validate` (the
contract's checks on an episode), `evaluate` (a `match` over every expression kind
and the evaluation schedule), `meta` (periods, parameters, citations) and `policy`
(:class:`InterpretedPolicy`, with a generated module's API).  The operators are
`ir.ops`.  `parcours decide --engine interpreted` runs it; the differential tests
(`tests/test_differential.py`) hold it equal to the generated code, decision for
decision and rejection for rejection.
"""

from .meta import InterpretError
from .policy import InterpretedPolicy, as_module

__all__ = ["InterpretError", "InterpretedPolicy", "as_module"]
