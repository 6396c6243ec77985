"""The architecture, read from source: no circle of imports between the project's modules, and
each layer imports only what it may (schemas < scoring < sinks < streams; the Faust process
reaches the engine only through its typed interface).

Imports under `if TYPE_CHECKING:` and inside functions count; how an import becomes an edge
(packages, `__init__.py`, relative imports) is described in `tests/support/source_tree.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.source_tree import (
    PACKAGES,
    REPO_ROOT,
    Edge,
    Graph,
    describe_cycle,
    discover,
    import_graph,
    resolve_relative,
    shortest_cycle,
    strongly_connected,
    within,
)

# The layer rules; each name is a package or module and covers the modules inside it.
SCHEMAS_MUST_NOT_IMPORT = ("scoring", "sinks", "streams")
SCORING_MAY_IMPORT = ("scoring", "schemas")
SINKS_MUST_NOT_IMPORT = ("streams",)
# The Faust process's modules, and the only engine modules they may import: the typed interface
# and its implementation that talks to the engine process over the socket.
FAUST_SIDE = ("streams.worker", "streams.web")
ENGINE_PACKAGE = "streams.engine"
ENGINE_INTERFACE = ("streams.engine.contract", "streams.engine.remote")


@dataclass(frozen=True)
class Rule:
    """What the modules in `importers` may import from the project."""

    importers: tuple[str, ...]
    may_import: tuple[str, ...] | None = None  # None: anything not forbidden below
    must_not_import: tuple[str, ...] = ()
    except_for: tuple[str, ...] = ()  # exact modules allowed although in `must_not_import`

    def allows(self, imported: str) -> bool:
        if self.may_import is not None and not within(imported, self.may_import):
            return False
        return imported in self.except_for or not within(imported, self.must_not_import)


SCHEMAS_RULE = Rule(("schemas",), must_not_import=SCHEMAS_MUST_NOT_IMPORT)
SCORING_RULE = Rule(("scoring",), may_import=SCORING_MAY_IMPORT)
SINKS_RULE = Rule(("sinks",), must_not_import=SINKS_MUST_NOT_IMPORT)
FAUST_SIDE_RULE = Rule(FAUST_SIDE, must_not_import=(ENGINE_PACKAGE,), except_for=ENGINE_INTERFACE)
FAUST_SIDE_MESSAGE = (f"{', '.join(FAUST_SIDE)} may import from {ENGINE_PACKAGE} only "
                      f"{', '.join(ENGINE_INTERFACE)}:")


def breaking(graph: Graph, rule: Rule) -> list[Edge]:
    return [
        edge
        for importer in sorted(graph) if within(importer, rule.importers)
        for edge in graph[importer] if not rule.allows(edge.imported)
    ]


def violations(graph: Graph, rule: Rule) -> list[str]:
    """`module -> imported (line n)` for each import that breaks the rule."""
    return [str(edge) for edge in breaking(graph, rule)]


def cycles(graph: Graph) -> list[str]:
    """Each circle as `a -> b -> a` with the imports behind it, and every module caught in it."""
    return [
        describe_cycle(graph, shortest_cycle(graph, component))
        + f"\n    modules in this circle: {', '.join(component)}"
        for component in strongly_connected(graph)
    ]


def report(title: str, lines: list[str]) -> str:
    return "\n".join([title, *(f"  {line}" for line in lines)])


@pytest.fixture(scope="module")
def graph() -> Graph:
    return import_graph(discover(REPO_ROOT, PACKAGES, scripts=True))


def test_the_graph_sees_the_project(graph: Graph) -> None:
    assert {name.split(".")[0] for name in graph} >= {*PACKAGES, "scripts"}
    assert sum(len(edges) for edges in graph.values()) > 100


def test_no_import_cycles(graph: Graph) -> None:
    found = cycles(graph)
    assert not found, report("modules that import each other:", found)


def test_schemas_import_no_other_layer(graph: Graph) -> None:
    found = violations(graph, SCHEMAS_RULE)
    assert not found, report(f"schemas must not import {', '.join(SCHEMAS_MUST_NOT_IMPORT)}:",
                             found)


def test_scoring_imports_only_scoring_and_schemas(graph: Graph) -> None:
    found = violations(graph, SCORING_RULE)
    assert not found, report(
        f"scoring may import only {', '.join(SCORING_MAY_IMPORT)} from the project:", found)


def test_sinks_never_import_streams(graph: Graph) -> None:
    found = violations(graph, SINKS_RULE)
    assert not found, report(f"sinks must not import {', '.join(SINKS_MUST_NOT_IMPORT)}:", found)


def test_the_faust_side_reaches_the_engine_only_through_its_interface(graph: Graph) -> None:
    found = violations(graph, FAUST_SIDE_RULE)
    assert not found, report(FAUST_SIDE_MESSAGE, found)


# Self-tests: the checks on small fake trees.

ALL_RULES = (SCHEMAS_RULE, SCORING_RULE, SINKS_RULE, FAUST_SIDE_RULE)

CLEAN_TREE = {
    "schemas/__init__.py": "",
    "schemas/events.py": "from pydantic import BaseModel\n",
    "scoring/__init__.py": "",
    "scoring/measures.py": "from schemas.events import BaseModel\n",
    "scoring/scores.py": "from . import measures\nfrom .measures import BaseModel\n",
    "sinks/__init__.py": "",
    "sinks/queries.py": "from scoring.scores import measures\nfrom schemas import events\n",
    "streams/__init__.py": "",
    "streams/engine/__init__.py": "",
    "streams/engine/contract.py": "from sinks import queries\n",
    "streams/engine/wire.py": "import pickle\n",
    "streams/engine/remote.py": "from streams.engine.wire import pickle\n"
                                "from streams.engine import contract\n",
    "streams/engine/local.py": "from streams.engine.contract import queries\n",
    "streams/worker/__init__.py": "",
    "streams/worker/app.py": "from typing import TYPE_CHECKING\n"
                             "import streams.engine.contract\n"
                             "from streams.engine.remote import contract\n"
                             "from streams.web import routes\n"
                             "if TYPE_CHECKING:\n    from streams.engine import contract as c\n",
    "streams/web/__init__.py": "",
    "streams/web/routes.py": "def serve() -> None:\n"
                             "    from streams.engine.remote import contract\n",
    # a package that re-exports its modules, which import each other: not a circle
    "synthetic/__init__.py": "from synthetic.activity import events\n"
                             "from .institution import plan\n",
    "synthetic/activity.py": "from synthetic.institution import plan\nfrom schemas import events\n",
    "synthetic/institution.py": "def plan() -> None:\n    pass\n",
}


def fake_graph(root: Path, files: Mapping[str, str]) -> Graph:
    for relative, source in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return import_graph(discover(root, PACKAGES))


def with_changes(changes: Mapping[str, str]) -> dict[str, str]:
    """The clean tree with files replaced or added."""
    return {**CLEAN_TREE, **changes}


def test_a_clean_tree_passes_every_check(tmp_path: Path) -> None:
    graph = fake_graph(tmp_path, CLEAN_TREE)
    assert sum(len(edges) for edges in graph.values()) > 10
    assert cycles(graph) == []
    for rule in ALL_RULES:
        assert violations(graph, rule) == []


def test_a_type_checking_import_closes_a_cycle(tmp_path: Path) -> None:
    routes = ("from typing import TYPE_CHECKING\n"
              "if TYPE_CHECKING:\n"
              "    from streams.worker.app import Worker\n")
    graph = fake_graph(tmp_path, with_changes({"streams/web/routes.py": routes}))
    assert cycles(graph) == [
        "streams.web.routes -> streams.worker.app -> streams.web.routes\n"
        "    streams.web.routes -> streams.worker.app (line 3, under TYPE_CHECKING)\n"
        "    streams.worker.app -> streams.web.routes (line 4)\n"
        "    modules in this circle: streams.web.routes, streams.worker.app"
    ]


def test_a_relative_import_in_a_function_closes_a_cycle(tmp_path: Path) -> None:
    measures = "def late() -> None:\n    from .scores import x\n"
    graph = fake_graph(tmp_path, with_changes({"scoring/measures.py": measures}))
    (found,) = cycles(graph)
    assert found.splitlines()[0] == "scoring.measures -> scoring.scores -> scoring.measures"
    assert "scoring.measures -> scoring.scores (line 2, inside a function)" in found


def test_the_shortest_cycle_is_reported_with_every_module_in_it(tmp_path: Path) -> None:
    graph = fake_graph(tmp_path, with_changes({
        "streams/web/gateway.py": "from streams.worker import app\n",
        "streams/web/routes.py": "from streams.web.gateway import x\n"
                                 "from streams.worker.app import y\n",
    }))
    (found,) = cycles(graph)
    assert found.splitlines()[0] == (
        "streams.web.routes -> streams.worker.app -> streams.web.routes")
    assert found.endswith(
        "modules in this circle: streams.web.gateway, streams.web.routes, streams.worker.app")


def test_a_package_init_that_imports_can_close_a_cycle(tmp_path: Path) -> None:
    # Importing synthetic.institution runs synthetic/__init__.py, which imports schemas.examples.
    graph = fake_graph(tmp_path, with_changes({
        "synthetic/__init__.py": "from schemas.examples import students\n",
        "schemas/examples.py": "from synthetic.institution import plan\n",
    }))
    (found,) = cycles(graph)
    assert found.splitlines()[0] == "schemas.examples -> synthetic -> schemas.examples"
    assert "schemas.examples -> synthetic (line 1; runs its __init__.py)" in found


def test_a_worker_module_importing_the_local_engine_is_reported(tmp_path: Path) -> None:
    graph = fake_graph(tmp_path, with_changes({
        "streams/worker/table.py": "import asyncio\n\n\n"
                                   "def load() -> None:\n"
                                   "    from streams.engine import local\n",
        "streams/web/gateway.py": "import streams.engine.wire\n",
    }))
    assert violations(graph, FAUST_SIDE_RULE) == [
        "streams.web.gateway -> streams.engine.wire (line 1)",
        "streams.worker.table -> streams.engine.local (line 5, inside a function)",
    ]


def test_an_engine_init_that_imports_is_reported_on_the_faust_side(tmp_path: Path) -> None:
    graph = fake_graph(tmp_path, with_changes({
        "streams/engine/__init__.py": "from streams.engine.local import queries\n"}))
    assert "streams.worker.app -> streams.engine (line 2; runs its __init__.py)" in violations(
        graph, FAUST_SIDE_RULE)


def test_scoring_importing_sinks_is_reported(tmp_path: Path) -> None:
    scores = ("from typing import TYPE_CHECKING\n"
              "from sinks import queries\n"
              "if TYPE_CHECKING:\n"
              "    from streams.engine.local import x\n")
    graph = fake_graph(tmp_path, with_changes({"scoring/scores.py": scores}))
    assert violations(graph, SCORING_RULE) == [
        "scoring.scores -> sinks.queries (line 2)",
        "scoring.scores -> streams.engine.local (line 4, under TYPE_CHECKING)",
    ]


def test_sinks_importing_streams_is_reported(tmp_path: Path) -> None:
    writer = "from streams.engine import contract\nimport streams.engine.wire as wire\n"
    graph = fake_graph(tmp_path, with_changes({"sinks/writer.py": writer}))
    assert violations(graph, SINKS_RULE) == [
        "sinks.writer -> streams.engine.contract (line 1)",
        "sinks.writer -> streams.engine.wire (line 2)",
    ]


def test_schemas_importing_scoring_is_reported(tmp_path: Path) -> None:
    events = "def f() -> None:\n    import scoring.scores\n"
    graph = fake_graph(tmp_path, with_changes({"schemas/events.py": events}))
    assert violations(graph, SCHEMAS_RULE) == [
        "schemas.events -> scoring.scores (line 2, inside a function)"]


@pytest.mark.parametrize(
    ("package", "level", "target", "absolute"),
    [
        ("streams.web", 1, "gateway", "streams.web.gateway"),
        ("streams.web", 2, "engine.wire", "streams.engine.wire"),
        ("streams.web", 2, None, "streams"),
        ("scoring", 1, None, "scoring"),
        ("scoring", 0, "sinks.queries", "sinks.queries"),
    ],
)
def test_relative_imports_are_resolved(
    package: str, level: int, target: str | None, absolute: str
) -> None:
    assert resolve_relative(package, level, target) == absolute


def test_a_relative_import_above_the_top_package_is_an_error() -> None:
    with pytest.raises(ValueError, match="beyond the top-level package"):
        resolve_relative("sinks", 2, "streams")
