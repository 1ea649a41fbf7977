"""The product's imports, read from its source: no cycle anywhere, and every import points the
layers' way — ``schemas ← streams, handlers ← app``: schemas imports nothing of ours, streams and
handlers import schemas only (never each other), app may import every package.

Every import statement counts, wherever it is: inside a function (a lazy import is a cycle put
off, not avoided) or under ``if TYPE_CHECKING:`` (a type from the wrong layer is a dependency on
it all the same). Relative imports are resolved; ``from package import name`` points at the
submodule when ``name`` is one, else at the package.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "streams", "handlers", "app")
LAYERS = "schemas ← streams, handlers ← app"

# What each package may import of the others (its own modules it may always import).
MAY_IMPORT: Mapping[str, frozenset[str]] = {
    "schemas": frozenset(),
    "streams": frozenset({"schemas"}),
    "handlers": frozenset({"schemas"}),
    "app": frozenset({"schemas", "streams", "handlers"}),
}

# Imports against the layers that are known and on their way out, as (importer, imported).
# Imports allowed against the layers, each with its reason. None today: keep it that way.
EXCEPTIONS: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Import:
    importer: str
    target: str
    path: Path
    line: int

    def where(self, root: Path) -> str:
        return f"{self.path.relative_to(root)}:{self.line}"


def _module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Every module of the packages, by dotted name (a package by its ``__init__``)."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            found[_module_name(root, path)] = path
    return found


def _known(name: str, known: Mapping[str, Path]) -> str | None:
    """``name`` if it is one of our modules, else its longest prefix that is."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in known:
            return ".".join(parts[:end])
    return None


def _base(importer: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module a ``from … import`` names, relative levels resolved."""
    if node.level == 0:
        return node.module or ""
    package = importer.split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, *([node.module] if node.module else [])])


def _targets(importer: str, path: Path, node: ast.AST, known: Mapping[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = _base(importer, path, node)
        names = [f"{base}.{alias.name}" for alias in node.names]
    else:
        return []
    return [target for name in names if (target := _known(name, known)) is not None]


def imports(root: Path, packages: tuple[str, ...] = PACKAGES) -> list[Import]:
    """Every import of one of our modules by another, wherever the statement is."""
    known = modules(root, packages)
    found = []
    for importer, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            for target in _targets(importer, path, node, known):
                if target != importer:
                    found.append(Import(importer, target, path, getattr(node, "lineno", 0)))
    return found


def against_layers(
    found: list[Import], root: Path, exceptions: frozenset[tuple[str, str]] = EXCEPTIONS
) -> list[str]:
    """One line per import against the layers: where, what, and the rule it breaks."""
    broken = []
    for imp in found:
        source, target = imp.importer.split(".")[0], imp.target.split(".")[0]
        allowed = MAY_IMPORT[source]
        if source == target or target in allowed or (imp.importer, imp.target) in exceptions:
            continue
        may = ", ".join(sorted(allowed)) or "nothing of ours"
        broken.append(
            f"{imp.where(root)}: {imp.importer} imports {imp.target}, but {source} may import "
            f"{may} (layers: {LAYERS})"
        )
    return broken


def _components(graph: Mapping[str, set[str]]) -> Iterator[list[str]]:
    """Tarjan's strongly connected components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> Iterator[list[str]]:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                yield from visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                yield sorted(component)

    for node in sorted(graph):
        if node not in index:
            yield from visit(node)


def _cycle_through(start: str, members: set[str], graph: Mapping[str, set[str]]) -> list[str]:
    """A shortest path ``start → … → start`` inside one component."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & members):
                if nxt == start:
                    return [*paths[node], start]
                if nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"{start} is in a component but on no cycle")


def cycles(found: list[Import], root: Path) -> list[str]:
    """One line per import cycle, each step with the file and line that makes it."""
    graph: dict[str, set[str]] = {}
    at: dict[tuple[str, str], Import] = {}
    for imp in found:
        graph.setdefault(imp.importer, set()).add(imp.target)
        at.setdefault((imp.importer, imp.target), imp)
    reported = []
    for component in _components(graph):
        loop = _cycle_through(component[0], set(component), graph)
        steps = [at[pair] for pair in itertools.pairwise(loop)]
        chain = " → ".join(f"{s.importer} ({s.where(root)})" for s in steps)
        reported.append(f"import cycle: {chain} → {loop[0]} (modules in it: {component})")
    return reported


# --- the product ---------------------------------------------------------------------------


def test_imports_point_the_layers_way() -> None:
    broken = against_layers(imports(ROOT), ROOT)
    assert not broken, "\n".join(broken)


def test_no_import_cycle() -> None:
    found = cycles(imports(ROOT), ROOT)
    assert not found, "\n".join(found)


def test_every_exception_is_still_needed() -> None:
    edges = {(imp.importer, imp.target) for imp in imports(ROOT)}
    stale = sorted(EXCEPTIONS - edges)
    assert not stale, f"no longer imported, delete from EXCEPTIONS: {stale}"


def test_the_reading_sees_the_whole_product() -> None:
    """Not vacuous: every package is read and the edges that wire the product are found."""
    edges = {(imp.importer, imp.target) for imp in imports(ROOT)}
    assert {name.split(".")[0] for name, _ in edges} == set(PACKAGES)
    assert {
        ("app.pipeline", "streams.lifecycle"),
        ("streams.aggregate.__main__", "streams.lifecycle"),
        ("streams.evaluate.__main__", "streams.lifecycle"),
        ("handlers.outbox.dispatcher", "handlers.notify.stages"),
    } <= edges


# --- the reading itself, on a tree made for it -----------------------------------------------


def _tree(root: Path, files: Mapping[str, str]) -> None:
    for package in PACKAGES:
        (root / package).mkdir()
        (root / package / "__init__.py").write_text("")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_an_import_against_the_layers_is_named_by_file_line_and_rule(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "schemas/wire.py": "import json\n\nfrom streams import window\n",
            "handlers/probe.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from app.pipeline import Pipeline\n"
                "def later():\n"
                "    import streams.window\n"
            ),
            "streams/window.py": "from schemas import wire\n",
            "app/pipeline.py": "from handlers import probe\nfrom streams.window import merge\n",
        },
    )
    broken = against_layers(imports(tmp_path), tmp_path, exceptions=frozenset())
    assert sorted(broken) == [
        "handlers/probe.py:3: handlers.probe imports app.pipeline, but handlers may import "
        f"schemas (layers: {LAYERS})",
        "handlers/probe.py:5: handlers.probe imports streams.window, but handlers may import "
        f"schemas (layers: {LAYERS})",
        "schemas/wire.py:3: schemas.wire imports streams.window, but schemas may import "
        f"nothing of ours (layers: {LAYERS})",
    ]
    allowed = frozenset({("handlers.probe", "streams.window")})
    assert len(against_layers(imports(tmp_path), tmp_path, exceptions=allowed)) == 2


def test_a_cycle_through_relative_and_lazy_imports_is_found(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "app/build.py": "from . import respond\n",
            "app/respond.py": "def main():\n    from app.build import build\n",
            "app/cli/__init__.py": "from ..build import build\n",
            "streams/a/__init__.py": "from .b import f\n",
            "streams/a/b.py": "from streams.a import c\n",
            "streams/a/c.py": "X = 1\n",
        },
    )
    assert cycles(imports(tmp_path), tmp_path) == [
        "import cycle: app.build (app/build.py:1) → app.respond (app/respond.py:2) → app.build "
        "(modules in it: ['app.build', 'app.respond'])"
    ]
