#!/usr/bin/env python3
"""Import cycles in the shared layer: every `import strongroom.…` / `from strongroom… import …`
of every module of `layers/strongroom/strongroom` (at the top, inside functions and under
TYPE_CHECKING alike: a deferred import is still a dependency), as a graph of modules; prints each
cycle (a strongly connected component of more than one module, or a module importing itself) and
exits 1 when there is one. Part of `make lint`.

    python scripts/import_cycles.py [--graph]
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "strongroom"
PACKAGE = "strongroom"


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted((LAYER / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(LAYER).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _target(name: str, known: dict[str, Path]) -> str | None:
    """The module of the layer an imported name lives in (`strongroom.data.orgs.resolve` →
    `strongroom.data.orgs`)."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for name in names:
            if name.split(".")[0] != PACKAGE:
                continue
            target = _target(name, known)
            # `from strongroom import x` names the package and module x: the module is what counts.
            if target == PACKAGE and name != PACKAGE:
                continue
            if target is not None and target != module and not (target == PACKAGE and module.startswith(PACKAGE)):
                found.add(target)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = _pop_component(stack, on_stack, node)
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def _pop_component(stack: list[str], on_stack: set[str], root: str) -> list[str]:
    """The modules above `root` on Tarjan's stack, `root` included: one strongly connected component."""
    component = []
    while True:
        top = stack.pop()
        on_stack.discard(top)
        component.append(top)
        if top == root:
            return component


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", action="store_true", help="print every module's imports of the layer")
    args = parser.parse_args(argv)
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    if args.graph:
        for name in sorted(graph):
            print(f"{name}: {' '.join(sorted(graph[name]))}")
    found = cycles(graph)
    for component in found:
        edges = [f"{a} -> {b}" for a in component for b in sorted(graph[a]) if b in component]
        print(f"import cycle among {len(component)} modules:\n  " + "\n  ".join(edges))
    print(f"{len(known)} modules, {sum(map(len, graph.values()))} imports, {len(found)} import cycles")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
