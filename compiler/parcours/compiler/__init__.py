"""The parcours compiler, one package per stage (lowest first):

- `diagnostics`: spans, diagnostics and the registry of every code; `files`: safe outputs;
  `meta`: the installed version;
- `syntax`: policy text → AST (the Lark parser, AST nodes, AST building);
- `ir`: the typed IR (nodes, printer); `sema`: AST → IR (loading and scope, types,
  dated values, evaluation order); `format`: policy text → its canonical layout;
- `analysis`: what is known about a policy without running it (regions, verification,
  semantic diff); `backends`: IR → code (`backends.python`); `interpret`: the reference
  interpreter, which decides episodes from the IR itself (`--engine interpreted`);
- `pipeline`: the only module that runs every stage;
- `tools`: compare, population, policy tests, formatting, the documentation site, the
  decision service, built on the pipeline;
- `lsp`: the language server (`parcours lsp`);
- `cli`: one module per command.

`tests/test_architecture.py` holds this order: nothing imports a later layer.
"""
