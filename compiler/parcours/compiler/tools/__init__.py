"""Tools built on the compiler: `compare` (one population through several policies, with
its HTML report), `population` (seeded synthetic episodes) and `policytest` (TOML tests
with coverage)."""
