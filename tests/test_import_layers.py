"""The package's layers: every import of a wsss module (at module level or inside a function) points
to the same layer or one below it, and no modules import each other in a loop."""

import ast
from pathlib import Path

import pytest
from conftest import REPO

PACKAGE = REPO / "wsss"
# Lowest first. The core is wsss/*.py (files, processes, devices, checkpoints, configs); each
# phase's package may use the core and the packages before it.
LAYERS = ["core", "data", "refine", "models", "clims", "seeds", "evaluation", "demo", "rehearsal"]
# Packages of one level that never import each other: the two seed sources (CLIMS, the training-free
# CLIP seeds) and the apps at the top.
PEERS = [{"clims", "seeds"}, {"demo", "rehearsal"}]


def module_name(path: Path, base: Path) -> str:
    parts = path.relative_to(base).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else "core"


def wsss_imports(path: Path) -> set[str]:
    """The wsss modules ``path`` imports anywhere in its code (``from wsss import x`` counts as wsss.x)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("wsss.")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("wsss"):
            if node.module == "wsss":
                found |= {f"wsss.{alias.name}" for alias in node.names}
            else:
                found.add(node.module)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    modules = {module_name(path, root.parent): path for path in root.rglob("*.py")}
    return {name: {m for m in wsss_imports(path) if m in modules} - {name} for name, path in modules.items()}


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, targets in graph.items():
        for target in targets:
            low, high = layer_of(target), layer_of(module)
            peers = any({low, high} <= group for group in PEERS)
            if (LAYERS.index(low) > LAYERS.index(high) and not peers) or (low != high and peers):
                wrong.append(f"{module} ({high}) imports {target} ({low})")
    return sorted(wrong)


def import_loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    loops = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                loops.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return loops


def test_every_package_has_a_layer():
    packages = {path.parent.relative_to(PACKAGE).parts[0] for path in PACKAGE.rglob("*/__init__.py")}
    assert packages <= set(LAYERS)


def test_no_import_runs_up_a_layer():
    assert upward_imports(import_graph()) == []


def test_no_modules_import_each_other_in_a_loop():
    assert import_loops(import_graph()) == []


@pytest.mark.parametrize(
    "files, problem",
    [
        ({"io.py": "from wsss.data.images import read_rgb\n", "data/__init__.py": "", "data/images.py": ""}, "up"),
        ({"a.py": "from wsss import b\n", "b.py": "def f():\n    from wsss.a import x\n"}, "loop"),
    ],
)
def test_the_checks_catch_what_they_name(tmp_path, files, problem):
    for name, text in files.items():
        (tmp_path / "wsss" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "wsss" / name).write_text(text)
    graph = import_graph(tmp_path / "wsss")
    if problem == "up":
        assert upward_imports(graph) == ["wsss.io (core) imports wsss.data.images (data)"]
    else:
        assert import_loops(graph) == [["wsss.a", "wsss.b"]]
