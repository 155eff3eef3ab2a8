"""Dependencies point one way: runtime ← generated modules; stages ← pipeline ← tools ← CLI.

Every module under `compiler/parcours/compiler/` belongs to a layer (its first package
name); a module imports only from its own layer or lower ones, and no two modules import
each other, directly or through others.
"""

from __future__ import annotations

import ast
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "runtime" / "parcours" / "runtime"
COMPILER = ROOT / "compiler" / "parcours" / "compiler"

# Lowest first.  A package may import from its own layer and from the layers before it.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"diagnostics", "files", "meta"}),  # leaf utilities: diagnostics, outputs, version
    frozenset({"syntax", "ir"}),              # text → AST; the typed IR
    frozenset({"sema", "format"}),            # AST → checked IR; text → canonical text
    frozenset({"analysis", "backends", "interpret"}),  # IR → findings; IR → code; IR run
    frozenset({"pipeline"}),                  # the one module that knows every stage
    frozenset({"tools"}),                     # compare, population, policy tests
    frozenset({"lsp"}),                       # the language server, built on the tools
    frozenset({"cli"}),                       # one module per command
)


def module_name(path: Path) -> str:
    """`parcours.x.y` for `<portion>/parcours/x/y.py` (runtime, compiler or grammar)."""
    top = next(p for p in path.parents if p.name == "parcours").parent
    parts = list(path.relative_to(top).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Absolute module names a file imports, anywhere in it (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
                found.add(module)
                # `from . import x` imports the submodule x when there is one
                found.update(f"{module}.{alias.name}" for alias in node.names)
            elif node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def compiler_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(COMPILER.rglob("*.py"))}


def layer_of(module: str) -> int:
    top = module.removeprefix("parcours.compiler.").split(".")[0]
    for index, layer in enumerate(LAYERS):
        if top in layer:
            return index
    raise AssertionError(f"{module} is in no layer: add its package to LAYERS")


def test_every_compiler_module_has_a_layer() -> None:
    for name in compiler_modules():
        if name != "parcours.compiler":
            layer_of(name)


def test_nothing_imports_upward() -> None:
    modules = compiler_modules()
    for name, path in modules.items():
        if name == "parcours.compiler":
            continue
        own = layer_of(name)
        for target in imports(path) & set(modules):
            if target == "parcours.compiler":
                continue
            assert layer_of(target) <= own, f"{name} imports {target}, a higher layer"


def test_no_import_cycles() -> None:
    modules = compiler_modules()
    graph = {name: (imports(path) & set(modules)) - {name} for name, path in modules.items()}
    # a package's __init__ importing its own submodules is how packages re-export
    for name in graph:
        graph[name] = {t for t in graph[name] if not (t.startswith(name + ".")
                                                      and modules[name].name == "__init__.py")}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


# C accelerators the runtime may use when installed (the `fast` extra), never need.
ACCELERATORS = frozenset({"msgspec"})


def guarded_imports(path: Path) -> set[str]:
    """Modules imported inside a `try:` whose handler catches ImportError."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id == "ImportError" for h in node.handlers):
            for inner in node.body:
                if isinstance(inner, ast.ImportFrom) and inner.module:
                    found.add(inner.module)
                    found.update(f"{inner.module}.{alias.name}" for alias in inner.names)
                elif isinstance(inner, ast.Import):
                    found.update(alias.name for alias in inner.names)
    return found


def test_runtime_imports_only_the_standard_library() -> None:
    """Only the standard library, but for an accelerator imported where its absence is
    caught (the runtime then takes its standard library path)."""
    for path in RUNTIME.glob("*.py"):
        optional = guarded_imports(path)
        for name in imports(path):
            top = name.split(".")[0]
            assert (top in sys.stdlib_module_names or name.startswith("parcours.runtime")
                    or (top in ACCELERATORS and name in optional)), f"{path.name} imports {name}"


def test_leaf_layers_import_nothing_but_the_standard_library() -> None:
    for name, path in compiler_modules().items():
        if name.removeprefix("parcours.compiler.").split(".")[0] in ("diagnostics", "files"):
            for target in imports(path):
                assert (target.split(".")[0] in sys.stdlib_module_names
                        or target.startswith(("parcours.compiler.diagnostics",
                                              "parcours.compiler.files"))), (name, target)


def test_ir_imports_nothing_but_spans_the_runtime_and_stdlib() -> None:
    """The IR is data plus its primitive operations: spans, and the runtime's definitions
    (the rounding table) that the generated code shares."""
    for path in (COMPILER / "ir").glob("*.py"):
        for name in imports(path):
            assert (name.split(".")[0] in sys.stdlib_module_names
                    or name.startswith(("parcours.compiler.ir", "parcours.compiler.diagnostics",
                                        "parcours.runtime"))), (
                path.name, name)


def test_modules_stay_small() -> None:
    """Compiler and runtime modules alike: past 600 lines a module holds two concerns."""
    runtime = {module_name(p): p for p in sorted(RUNTIME.rglob("*.py"))}
    for name, path in {**compiler_modules(), **runtime}.items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= 600, f"{name} has {lines} lines: split it by concern"


def test_generated_modules_import_the_abi_list_and_tools_only_public_names() -> None:
    """The template renders its runtime import from `abi.GENERATED_IMPORTS`, a subset of the
    runtime's public names; compiler modules import runtime names from `parcours.runtime`
    only, and only names of its `__all__` (never a submodule's or a private `_name`)."""
    import parcours.runtime as runtime
    from parcours.runtime.abi import GENERATED_IMPORTS

    assert set(GENERATED_IMPORTS) <= set(runtime.__all__)
    template = (COMPILER / "backends" / "python" / "templates" / "module.py.jinja").read_text(
        encoding="utf-8")
    assert "from parcours.runtime import (" not in template  # rendered from the ABI list
    for name, path in compiler_modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "parcours.runtime"):
                assert node.module == "parcours.runtime", (name, node.module)
                for alias in node.names:
                    assert alias.name in runtime.__all__, (name, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("parcours.runtime."), (name, alias.name)


def test_diagnostic_registry_matches_the_language_reference() -> None:
    import re

    from parcours.compiler.diagnostics.codes import CODES

    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    documented = dict(re.findall(r"^\| ([EW]\d{3}) \| (.*?) \|$", text, re.M))
    assert documented == CODES
    used = set()
    for path in COMPILER.rglob("*.py"):
        used.update(re.findall(r'"([EW]\d{3})"', path.read_text(encoding="utf-8")))
    used -= set(re.findall(r'"([EW]\d{3})"', (COMPILER / "diagnostics" / "codes.py").read_text(
        encoding="utf-8")))
    assert used <= set(CODES), f"codes used but not registered: {sorted(used - set(CODES))}"
