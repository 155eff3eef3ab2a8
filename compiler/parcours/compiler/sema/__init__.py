"""AST → checked IR: `load` (files, imports, one scope), then `check` (declarations and the
evaluation order) built on `expressions` (types of expressions) and `dated` (dated values),
with `types` (type relations and hints) and `base` (the shared state)."""
