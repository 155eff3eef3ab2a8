"""What is known about a policy from its IR alone: `regions` (the input space and an
evaluator over whole regions), `verify` (gaps, conflicts, unreachable rules) and `diff`
(where two policies decide differently)."""
