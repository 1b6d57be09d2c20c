"""The package's shape: no import circles, no module reaching into another's private
names, and a README layout that names every module.

Imports are read from the source with ``ast`` (nothing is imported), including
imports placed inside functions: those are where circles used to hide. Imports
under ``if TYPE_CHECKING:`` never run, so they are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "profiler"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    return {module_name(p): p for p in sorted(package.rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, str | None]]:
    """(module imported, name taken from it or None) for every import in ``path``
    that lands in the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names if a.name in known]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                if f"{source}.{alias.name}" in known:  # a submodule
                    found.append((f"{source}.{alias.name}", None))
                elif source in known:
                    found.append((source, alias.name))
    return found


def import_graph(known: dict[str, Path]) -> dict[str, set[str]]:
    return {m: {t for t, _ in imports(m, p, known) if t != m} for m, p in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_planted_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_imports_inside_functions_are_seen_and_type_checking_ones_are_not(tmp_path):
    pkg = tmp_path / "profiler"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from typing import TYPE_CHECKING\n"
                              "if TYPE_CHECKING:\n    from profiler.b import X\n"
                              "def f():\n    from profiler.c import _hidden\n")
    (pkg / "b.py").write_text("")
    (pkg / "c.py").write_text("")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        known = modules(pkg)
        assert imports("profiler.a", pkg / "a.py", known) == [("profiler.c", "_hidden")]
    finally:
        ROOT = saved


def test_no_import_circles_in_the_package():
    assert cycles(import_graph(modules())) == []


def test_no_module_imports_another_modules_private_names():
    known = modules()
    private = [f"{m} takes {name} from {source}"
               for m, path in known.items()
               for source, name in imports(m, path, known)
               if name and name.startswith("_") and not name.startswith("__") and source != m]
    assert private == []


# Layers that measure and compute never reach up to what renders or drives them.
LOWER = ("profiler.models", "profiler.measure", "profiler.run", "profiler.analyze")
UPPER = ("profiler.report", "profiler.train", "profiler.api", "profiler.cli")


def test_lower_layers_do_not_import_the_report_the_api_or_the_cli():
    graph = import_graph(modules())
    upward = sorted(f"{m} -> {t}" for m, targets in graph.items() if m.startswith(LOWER)
                    for t in targets if t.startswith(UPPER))
    assert upward == []


def listed_modules(layout: str) -> set[str]:
    """Paths relative to profiler/ named in the README's layout tree: a line "  run/"
    opens a package, an indented "    store.py" lies in it."""
    listed, package = set(), ""
    for line in layout.splitlines():
        if not line.startswith("  ") or not line.strip():
            continue
        name = line.split()[0]
        depth = (len(line) - len(line.lstrip())) // 2
        if name.endswith("/"):
            package = name
        elif name.endswith(".py"):
            listed.add(name if depth == 1 else package + name)
    return listed


def test_listed_modules_reads_the_tree():
    tree = "profiler/\n  cli.py   x\n  run/     y\n    store.py  z\n  models/\n    a.py\n"
    assert listed_modules(tree) == {"cli.py", "run/store.py", "models/a.py"}


def test_the_readme_layout_names_every_module():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    files = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
             if p.name not in ("__init__.py", "__main__.py")}
    listed = listed_modules(layout)
    assert sorted(files - listed) == []  # a module the README does not describe
    assert sorted(listed - files) == []  # a module the README describes that is gone
