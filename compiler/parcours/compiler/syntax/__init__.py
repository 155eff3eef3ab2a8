"""Policy text → AST: `parse` (the Lark parser with error recovery), `nodes` (the AST) and
`build` (parse tree → AST, with spans)."""
