"""The front's import rules, read from the source (imports inside functions count too)."""
from __future__ import annotations

import ast
from pathlib import Path

from .conftest import REPO

FRONT = REPO / "ryven_comfy_nodes"


def imports_of(path: Path, package: str) -> set[str]:
    """Every module ``path`` imports, absolute names, wherever in the file the import is."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = f"{package}.{base}" if base else package
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    return names


def front_graph() -> dict[str, set[str]]:
    modules = {f"ryven_comfy_nodes.{p.stem}": p for p in FRONT.glob("*.py") if p.stem != "__init__"}
    return {m: {n for n in imports_of(p, "ryven_comfy_nodes") if n in modules and n != m} for m, p in modules.items()}


def test_no_import_cycle_in_the_node_package():
    graph = front_graph()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycle = [*path[path.index(n):], n]
                raise AssertionError("import cycle: " + " → ".join(cycle))
            if n not in state:
                visit(n)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_the_core_imports_nothing_of_the_front():
    offenders = sorted(
        f"{p.relative_to(REPO)} imports {n}"
        for p in (REPO / "comfy_backend").rglob("*.py")
        for n in imports_of(p, ".".join(p.relative_to(REPO).with_suffix("").parts[:-1]))
        if n.split(".")[0] in ("ryven_comfy_nodes", "editor_bridge")
    )
    assert offenders == []


def test_the_front_uses_no_cli_module_but_in_its_commands():
    offenders = sorted(p.name for p in FRONT.glob("*.py") if p.stem != "commands"
                       and any(n.startswith("comfy_backend.cli") for n in imports_of(p, "ryven_comfy_nodes")))
    example = REPO / "example_projects" / "run_headless.py"
    if any(n.startswith("comfy_backend.cli") for n in imports_of(example, "example_projects")):
        offenders.append(example.name)
    assert offenders == []
