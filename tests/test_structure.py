"""The shape of dp100/: no import cycle, no module over 500 lines, no private name imported across modules."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "dp100"
MAX_LINES = 500


def _modules() -> dict[str, ast.Module]:
    return {
        f"dp100.{p.stem}" if p.stem != "__init__" else "dp100": ast.parse(p.read_text(), str(p))
        for p in sorted(PACKAGE.glob("*.py"))
    }


def _imports(tree: ast.Module) -> list[tuple[str, str, int]]:
    """Every import of a dp100 module, at module level or inside a function: (module, name, line).
    ``name`` is the imported name of a ``from dp100.x import name`` ("" for ``import dp100.x``)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, "", node.lineno) for a in node.names if a.name.startswith("dp100.")]
        elif isinstance(node, ast.ImportFrom):
            # a relative import inside dp100/ (from .runs import x, from . import runs) is one of dp100 too
            module = (node.module or "") if node.level == 0 else ".".join(["dp100", node.module or ""]).rstrip(".")
            if module == "dp100":  # from dp100 import runs: the module dp100.runs
                found += [(f"dp100.{a.name}", "", node.lineno) for a in node.names]
            elif module.startswith("dp100."):
                found += [(module, a.name, node.lineno) for a in node.names]
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {m for m, _, _ in _imports(tree) if m in modules and m != name} for name, tree in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_imports_are_found_in_every_form():
    tree = ast.parse(
        "import dp100.runs\nfrom dp100 import pipeline\nfrom .tracking import _LOCK\n"
        "def f():\n    from dp100.batch import step_input\n"
    )
    assert _imports(tree) == [
        ("dp100.runs", "", 1),
        ("dp100.pipeline", "", 2),
        ("dp100.tracking", "_LOCK", 3),
        ("dp100.batch", "step_input", 5),
    ]


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_dp100():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle in dp100/ (module-level or function-level imports): " + " -> ".join(cycle)


def test_no_module_over_500_lines():
    big = {p.name: n for p in sorted(PACKAGE.glob("*.py")) if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"dp100/ modules over {MAX_LINES} lines (split them by concept): {big}"


def test_no_private_name_imported_across_modules():
    private = [
        f"{name} line {line}: from {module} import {imported}"
        for name, tree in _modules().items()
        for module, imported, line in _imports(tree)
        if imported.startswith("_") and module != name
    ]
    assert not private, (
        "private names imported from another dp100 module (make them public where they live): " + "; ".join(private)
    )
