"""The Python backend: `emit` renders the IR through `templates/module.py.jinja`; `loader`
imports a generated module (standard library only)."""
