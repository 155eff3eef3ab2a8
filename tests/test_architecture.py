"""Dependencies point one way: runtime ← generated modules; stages ← pipeline ← CLI."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "runtime" / "parcours" / "runtime"
COMPILER = ROOT / "compiler" / "parcours" / "compiler"


def imports(path: Path) -> set[str]:
    """Absolute module names a file imports (relative imports resolved within its package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(path.parents[2]).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                found.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                found.add(node.module)
    return found


def test_runtime_imports_only_the_standard_library() -> None:
    for path in RUNTIME.glob("*.py"):
        for name in imports(path):
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or name.startswith("parcours.runtime"), (
                f"{path.name} imports {name}")


def test_compiler_stages_do_not_import_downstream() -> None:
    order = ["diagnostics", "nodes", "syntax", "build_ast", "resolve", "ir", "check", "codegen",
             "pipeline", "report_check", "cli"]
    for index, stage in enumerate(order):
        later = {f"parcours.compiler.{s}" for s in order[index + 1:]}
        found = imports(COMPILER / f"{stage}.py")
        assert not found & later, f"{stage} imports {found & later}"


def test_ir_imports_nothing_but_spans_and_stdlib() -> None:
    for name in imports(COMPILER / "ir.py"):
        assert name.split(".")[0] in sys.stdlib_module_names or name == \
            "parcours.compiler.diagnostics"


def test_runtime_all_is_what_generated_modules_may_import() -> None:
    import parcours.runtime as runtime

    for name in runtime.__all__:
        assert hasattr(runtime, name)
    template = (COMPILER / "templates" / "module.py.jinja").read_text(encoding="utf-8")
    start = template.index("from parcours.runtime import (") + len("from parcours.runtime import (")
    names = {n.strip() for n in template[start:template.index(")", start)].split(",")}
    assert names <= set(runtime.__all__)
