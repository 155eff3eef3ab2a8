"""The language server of `parcours lsp` (docs/editors.md): `server` speaks the protocol
(pygls, the `lsp` extra), `symbols` answers hover, definition and completion from a
policy's loaded scope."""
