"""Import rules between the layers, read from the source (no module is imported or run).

Like ``tests/backend/test_no_qt.py`` these hold the shape of ``docs/architecture.md``:

* the core (``comfy_backend``) imports nothing of the front (``ryven_comfy_nodes``, ``editor_bridge``),
  not even inside a function or under ``if TYPE_CHECKING:``;
* the front uses only the core's public faces (``FRONT_MAY_IMPORT``);
* no import cycle between the modules of the repo's packages. Imports inside functions count
  (they only hide a cycle); imports under ``if TYPE_CHECKING:`` do not (they never run).
"""
from __future__ import annotations

import ast
import itertools
from collections import deque
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORE = "comfy_backend"
FRONT = ("ryven_comfy_nodes", "editor_bridge")
PACKAGES = (CORE, *FRONT)
#: Folders inside the packages that are not modules of them (the torchvision stub runs in ComfyUI).
NOT_OURS = ("comfy_backend/local/stub",)

#: The core's modules the front may import: its two public faces, and the CLI toolkit for the
#: commands the front registers (``ryven_comfy_nodes.commands``).
FRONT_MAY_IMPORT = frozenset({
    "comfy_backend",            # the face: Orchestrator, RunRequest, snapshots, events, errors
    "comfy_backend.workflow",   # the workflow face: parse once, fields, ports, convert
    "comfy_backend.cli",        # the terminal toolkit (ProgressDisplay) for front commands
})


@dataclass(frozen=True)
class Import:
    """One import statement resolved to a module name."""

    source: str           #: the importing module
    target: str           #: the imported module (the most specific one that is ours, when it is ours)
    line: int
    type_checking: bool   #: under ``if TYPE_CHECKING:`` (never runs)


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def source_files() -> dict[str, Path]:
    """Every module of the repo's packages, by dotted name."""
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if any(rel.startswith(p + "/") for p in NOT_OURS):
                continue
            out[module_name(path)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _absolute(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute module of ``from <level dots><name> import ...`` written in ``module``."""
    if level == 0:
        return name or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


class _Collector(ast.NodeVisitor):
    """Every import statement anywhere in one file, plus string-named dynamic imports."""

    def __init__(self, module: str, is_package: bool, known: set[str]) -> None:
        self.module, self.is_package, self.known = module, is_package, known
        self.found: list[Import] = []
        self._type_checking = 0

    def _add(self, target: str, line: int) -> None:
        self.found.append(Import(self.module, target, line, self._type_checking > 0))

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self._type_checking += 1
            for child in node.body:
                self.visit(child)
            self._type_checking -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = _absolute(self.module, self.is_package, node.level, node.module)
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            # ``from pkg import mod`` imports the module pkg.mod; ``from pkg import name`` runs pkg.
            self._add(sub if sub in self.known else base, node.lineno)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        dynamic = (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
            isinstance(func, ast.Name) and func.id in ("__import__", "import_module"))
        if dynamic and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            self._add(node.args[0].value, node.lineno)
        self.generic_visit(node)


def collect() -> list[Import]:
    """All imports of all modules of the repo's packages."""
    files = source_files()
    known = set(files)
    out: list[Import] = []
    for module, path in files.items():
        c = _Collector(module, path.name == "__init__.py", known)
        c.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        out += dict.fromkeys(c.found)  # one per statement and target, in order
    return out


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def _where(imp: Import) -> str:
    return f"{imp.source} (line {imp.line}) imports {imp.target}"


# ---------------------------------------------------------------- cycles


def import_graph(imports: list[Import]) -> dict[str, dict[str, int]]:
    """module -> {imported module of ours: first line}, without ``TYPE_CHECKING`` imports."""
    known = set(source_files())
    graph: dict[str, dict[str, int]] = {m: {} for m in known}
    for imp in imports:
        if imp.type_checking or imp.target not in known or imp.target == imp.source:
            continue
        graph[imp.source].setdefault(imp.target, imp.line)
    return graph


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop(0)
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def _shortest_cycle(graph: dict[str, dict[str, int]], start: str, members: set[str]) -> list[str]:
    """The shortest path start -> ... -> start inside one component."""
    prev: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph[node]):
            if nxt not in members:
                continue
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                return [*reversed(path), start]
            if nxt not in prev:
                prev[nxt] = node
                queue.append(nxt)
    raise AssertionError(f"{start} is in a component but on no cycle")


def cycles(graph: dict[str, dict[str, int]]) -> list[str]:
    """Each cycle as ``a (line 3) -> b (line 9) -> a``: the shortest one through every module of a cycle."""
    found: dict[tuple[str, ...], str] = {}
    for comp in strongly_connected(graph):
        members = set(comp)
        for start in comp:
            path = _shortest_cycle(graph, start, members)
            ring = path[:-1]
            key = tuple(ring[ring.index(min(ring)):] + ring[: ring.index(min(ring))])
            if key not in found:
                steps = [f"{a} (line {graph[a][b]})" for a, b in itertools.pairwise(path)]
                found[key] = " -> ".join([*steps, path[-1]])
    return sorted(found.values())


# ---------------------------------------------------------------- the rules


def test_the_graph_sees_imports_in_functions_and_relative_ones() -> None:
    """The collector itself: relative imports resolve, function-level ones count, TYPE_CHECKING is marked."""
    code = ("from __future__ import annotations\nfrom typing import TYPE_CHECKING\nfrom . import b\n"
            "from ..x import y\nif TYPE_CHECKING:\n    from .c import C\n"
            "def f():\n    import p.q\n    from .d import e\n    importlib.import_module('r.s')\n")
    c = _Collector("pkg.sub.a", False, {"pkg.sub.b", "pkg.sub.c", "pkg.sub.d", "pkg.x"})
    c.visit(ast.parse(code))
    got = {(i.target, i.type_checking) for i in c.found}
    assert got == {("__future__", False), ("typing", False), ("pkg.sub.b", False), ("pkg.x", False),
                   ("pkg.sub.c", True), ("p.q", False), ("pkg.sub.d", False), ("r.s", False)}
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3, "d": 4}, "d": {}}
    assert cycles(graph) == ["a (line 1) -> b (line 2) -> c (line 3) -> a"]


def test_the_core_imports_nothing_of_the_front() -> None:
    bad = [_where(i) for i in collect() if _top(i.source) == CORE and _top(i.target) in FRONT]
    assert not bad, "the core must not import the front:\n" + "\n".join(bad)


def test_the_front_uses_only_the_public_faces_of_the_core() -> None:
    bad = [_where(i) for i in collect()
           if _top(i.source) in FRONT and _top(i.target) == CORE and i.target not in FRONT_MAY_IMPORT]
    assert not bad, (f"the front may import from the core only {sorted(FRONT_MAY_IMPORT)}:\n" + "\n".join(bad))


def test_no_import_cycles() -> None:
    found = cycles(import_graph(collect()))
    assert not found, "import cycles (imports inside functions count):\n" + "\n".join(found)
