"""The project's modules and their imports, read from source with `ast` (nothing is imported).

Architecture tests use these helpers to see which module imports which. Every import counts:
those at module level, those inside functions (deferred imports), those under
`if TYPE_CHECKING:` (they vanish at run time but still tie the modules together for whoever reads
or type-checks them), and `importlib.import_module("...")` / `__import__("...")` with a literal
name.

How an import becomes an edge of the module graph:

- `import a.b.c` is an edge to the longest of `a.b.c`, `a.b`, `a` that is a project module;
- `from a.b import c` is an edge to `a.b.c` when that is a module (`a/b/c.py` or
  `a/b/c/__init__.py`), else to `a.b` (then `c` is a name defined in `a/b/__init__.py`);
  relative imports are resolved against the importing module first;
- importing `a.b.c` also runs `a/__init__.py` and `a/b/__init__.py`, so there are also edges to
  those packages, with two exceptions. A package that is the importing module's own package (or
  an enclosing one) gets no edge: Python has already started initialising it before the module
  runs, so `synthetic/activity.py` importing `synthetic.institution` does not make a circle with
  `synthetic/__init__.py`. And a package whose `__init__.py` imports no project module gets no
  edge either: it cannot close a circle, and an edge to it would only be noise in the layer
  rules (most of the project's `__init__.py` files are empty).
- a module importing itself is not an edge.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "scoring", "sinks", "streams", "synthetic")
# Not a package, but each file in it is importable as `scripts.<name>` (a namespace package).
SCRIPTS = "scripts"


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool

    @property
    def package(self) -> str:
        """The package relative imports start from."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


@dataclass(frozen=True)
class Import:
    """One import statement (or one name of a `from` import), as absolute names."""

    module: str  # `a.b` for `import a.b` and for `from a.b import c`
    name: str | None  # `c` for `from a.b import c`; None for `import a.b`
    line: int
    type_checking: bool  # under `if TYPE_CHECKING:`
    in_function: bool  # inside a function body (a deferred import)
    dynamic: bool = False  # importlib.import_module("a.b") or __import__("a.b")

    @property
    def where(self) -> str:
        notes = [f"line {self.line}"]
        if self.type_checking:
            notes.append("under TYPE_CHECKING")
        if self.in_function:
            notes.append("inside a function")
        if self.dynamic:
            notes.append("imported dynamically")
        return ", ".join(notes)


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    imp: Import
    implicit: bool  # an edge to a package whose `__init__.py` runs on the way to a submodule

    def __str__(self) -> str:
        how = "; runs its __init__.py" if self.implicit else ""
        return f"{self.importer} -> {self.imported} ({self.imp.where}{how})"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def discover(
    root: Path = REPO_ROOT, packages: Iterable[str] = PACKAGES, *, scripts: bool = False
) -> dict[str, Module]:
    """Every module of the given top-level packages under `root`, by dotted name."""
    tops = [*packages, *([SCRIPTS] if scripts else [])]
    modules: dict[str, Module] = {}
    for top in tops:
        for path in sorted((root / top).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if not all(part.isidentifier() for part in parts):
                continue  # not importable as a module (e.g. a file in a `migrations-old` folder)
            name = module_name(root, path)
            modules[name] = Module(name=name, path=path, is_package=path.name == "__init__.py")
    return modules


def parse(module: Module) -> ast.Module:
    return ast.parse(module.path.read_text(encoding="utf-8"), filename=str(module.path))


def resolve_relative(package: str, level: int, target: str | None) -> str:
    """`from ..x import y` inside package `a.b.c` names `a.b.x`."""
    if level == 0:
        return target or ""
    parts = package.split(".") if package else []
    if level > len(parts):
        raise ValueError(f"relative import beyond the top-level package in {package!r}")
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, *([target] if target else [])])


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def dotted_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        owner = dotted_name(node.value)
        return f"{owner}.{node.attr}" if owner else None
    return None


class _ImportCollector(ast.NodeVisitor):
    def __init__(self, package: str) -> None:
        self.package = package
        self.found: list[Import] = []
        self._type_checking = 0
        self._functions = 0

    def _add(self, module: str, name: str | None, node: ast.AST, *, dynamic: bool = False) -> None:
        self.found.append(Import(module=module, name=name, line=getattr(node, "lineno", 0),
                                 type_checking=self._type_checking > 0,
                                 in_function=self._functions > 0, dynamic=dynamic))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, None, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = resolve_relative(self.package, node.level, node.module)
        for alias in node.names:
            self._add(module, alias.name, node)

    def visit_If(self, node: ast.If) -> None:
        if not is_type_checking(node.test):
            self.generic_visit(node)
            return
        self.visit(node.test)
        self._type_checking += 1
        for statement in node.body:
            self.visit(statement)
        self._type_checking -= 1
        for statement in node.orelse:
            self.visit(statement)

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self._functions += 1
        self.generic_visit(node)
        self._functions -= 1

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function
    visit_Lambda = _visit_function

    def visit_Call(self, node: ast.Call) -> None:
        called = dotted_name(node.func)
        if (called is not None and (called == "__import__" or called.endswith("import_module"))
                and node.args and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)):
            self._add(node.args[0].value, None, node, dynamic=True)
        self.generic_visit(node)


def imports_in(tree: ast.Module, package: str = "") -> list[Import]:
    """Every import in `tree`, in source order; `package` resolves relative imports."""
    collector = _ImportCollector(package)
    collector.visit(tree)
    return collector.found


def imports_of(module: Module) -> list[Import]:
    return imports_in(parse(module), module.package)


def explicit_target(imp: Import, modules: Mapping[str, object]) -> str | None:
    """The project module an import names, or None when it names none (stdlib, third party)."""
    if imp.name is not None and imp.name != "*" and f"{imp.module}.{imp.name}" in modules:
        return f"{imp.module}.{imp.name}"
    parts = imp.module.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def enclosing_packages(name: str) -> Iterator[str]:
    """`a.b.c` → `a`, `a.b`."""
    parts = name.split(".")
    for end in range(1, len(parts)):
        yield ".".join(parts[:end])


def _runs_before(importer: Module, package: str) -> bool:
    """Python initialises `package` before `importer` runs: it is the importer or encloses it."""
    return importer.name == package or importer.name.startswith(f"{package}.")


Graph = dict[str, list[Edge]]


def import_graph(modules: Mapping[str, Module]) -> Graph:
    """Each module's edges to the project modules it imports (the rules are in the docstring)."""
    explicit: dict[str, list[tuple[str, Import]]] = {}
    for name, module in modules.items():
        found = ((explicit_target(imp, modules), imp) for imp in imports_of(module))
        explicit[name] = [(t, imp) for t, imp in found if t is not None and t != name]
    importing_inits = {
        name for name, module in modules.items() if module.is_package and explicit[name]
    }
    graph: Graph = {}
    for name, targets in explicit.items():
        importer = modules[name]
        edges: list[Edge] = []
        for target, imp in targets:
            edges.append(Edge(name, target, imp, implicit=False))
            edges += [
                Edge(name, package, imp, implicit=True)
                for package in enclosing_packages(target)
                if package in importing_inits and not _runs_before(importer, package)
            ]
        # One edge per statement: `from a import b, c` is one import of `a` when b, c are names.
        unique = {(e.imported, e.imp.line, e.implicit): e for e in reversed(edges)}
        graph[name] = sorted(unique.values(), key=lambda e: (e.imp.line, e.implicit, e.imported))
    return graph


def within(name: str, prefixes: Iterable[str]) -> bool:
    """`name` is one of `prefixes` or a module inside one of them."""
    return any(name == prefix or name.startswith(f"{prefix}.") for prefix in prefixes)


def strongly_connected(graph: Graph) -> list[list[str]]:
    """The circles of the graph: components of two or more modules that reach each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def neighbours(node: str) -> list[str]:
        return sorted({edge.imported for edge in graph.get(node, []) if edge.imported in graph})

    for root in sorted(graph):
        if root in index:
            continue
        # Tarjan's algorithm, iteratively (the recursion depth would follow the import chains).
        work: list[tuple[str, Iterator[str]]] = [(root, iter(neighbours(root)))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pending = work[-1]
            following = next(pending, None)
            if following is not None:
                if following not in index:
                    index[following] = low[following] = len(index)
                    stack.append(following)
                    on_stack.add(following)
                    work.append((following, iter(neighbours(following))))
                elif following in on_stack:
                    low[node] = min(low[node], index[following])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)


def shortest_cycle(graph: Graph, component: Iterable[str]) -> list[str]:
    """The shortest circle inside a strongly connected component, as `[a, b, ..., a]`."""
    members = set(component)
    best: list[str] | None = None
    for start in sorted(members):
        came_from: dict[str, str] = {}
        queue = deque([start])
        found: list[str] | None = None
        while queue and found is None:
            node = queue.popleft()
            for following in sorted({e.imported for e in graph[node]} & members):
                if following == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    found = [start, *reversed(path[:-1]), start]
                    break
                if following not in came_from:
                    came_from[following] = node
                    queue.append(following)
        if found is not None and (best is None or len(found) < len(best)):
            best = found
    assert best is not None, f"{sorted(members)} is not a circle"
    return best


def describe_cycle(graph: Graph, cycle: list[str]) -> str:
    """`a -> b -> a`, then the import behind each step."""
    lines = [" -> ".join(cycle)]
    for importer, imported in pairwise(cycle):
        edge = next(e for e in graph[importer] if e.imported == imported)
        lines.append(f"    {edge}")
    return "\n".join(lines)
