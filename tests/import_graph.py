"""The import graph of ``controller``, package by package, and the layering it must keep.

Run ``python -m tests.import_graph`` to print every edge (``a -> b`` means a module of
``a`` imports one of ``b``), with the layer of each package; ``tests/unit/test_layers.py``
fails when an edge points upward or modules import each other in a cycle. Every import
counts, including those inside functions: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "controller"

# Lower layers first. A package may import its own layer's or lower layers' packages.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("secrets", "clock", "logs", "privacy", "stoppoints", "instance", "filemodes", "records"),
    ("ari", "audit", "recordings"),
    ("config", "eventlog"),
    ("policy", "payments", "sheets"),
    ("store",),
    ("retention", "access", "calls", "documents", "inspection", "agi"),
    ("web",),
    ("daemon",),
    ("cli_support", "commands"),
    ("sandbox",),
    ("demo",),
    ("cli", "__main__"),
)
# The shipped daemon's own code: never the demo, the sandbox or the command line.
DAEMON_PACKAGES = frozenset(p for layer in LAYERS[: LAYERS.index(("daemon",)) + 1] for p in layer)


def layer_of(package: str) -> int:
    for index, layer in enumerate(LAYERS):
        if package in layer:
            return index
    raise KeyError(f"controller.{package} has no layer in tests/import_graph.py")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    path = ROOT.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(path: Path) -> Iterator[str]:
    """Every ``controller`` module the file imports, anywhere in it."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("controller."):
                    yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if not target.startswith("controller."):
                continue
            for alias in node.names:
                # ``from controller.x import y`` names the module ``controller.x.y`` when
                # there is one, and otherwise a name defined in ``controller.x``.
                submodule = f"{target}.{alias.name}"
                yield submodule if _is_module(submodule) else target


def module_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in sorted(ROOT.rglob("*.py")):
        source = module_name(path)
        graph[source]
        for target in imports_of(path):
            if target != source:
                graph[source].add(target)
    return graph


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def package_graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for source, targets in module_graph().items():
        for target in targets:
            a, b = package_of(source), package_of(target)
            if a and b and a != b:
                edges[a].add(b)
    return edges


def upward_edges() -> list[tuple[str, str]]:
    return sorted(
        (a, b) for a, bs in package_graph().items() for b in bs if layer_of(b) > layer_of(a)
    )


def package_cycles() -> list[tuple[str, str]]:
    graph = package_graph()
    return sorted((a, b) for a, bs in graph.items() for b in bs if a < b and a in graph.get(b, ()))


def module_cycles() -> list[list[str]]:
    """Groups of modules that import each other, directly or through others (Tarjan)."""
    graph = module_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in graph:
                continue  # a name imported from a package, not a module
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(cycles)


def main() -> None:
    graph = package_graph()
    packages = sorted(
        {package_of(m) for m in module_graph()} - {""}, key=lambda p: (layer_of(p), p)
    )
    for package in packages:
        targets = sorted(graph.get(package, ()), key=lambda p: (layer_of(p), p))
        print(f"L{layer_of(package)} {package:<12} -> {', '.join(targets) or '-'}")
    print(f"upward edges: {upward_edges() or 'none'}")
    print(f"package cycles: {package_cycles() or 'none'}")
    print(f"module cycles: {module_cycles() or 'none'}")


if __name__ == "__main__":
    main()
