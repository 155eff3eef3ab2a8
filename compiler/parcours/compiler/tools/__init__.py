"""Tools built on the compiler: `compare` (one population through several policies, with
its HTML report), `population` (seeded synthetic episodes), `policytest` (TOML tests
with coverage), `site` (the documentation site of `parcours doc`) and `service` (the
decision service of `parcours serve`, which needs only the runtime and a loaded policy)."""
