"""The package's layout by stage: dependencies point one way and no import goes in a circle.

Each module belongs to a stage (its subpackage; top-level modules are named below). A module
may import, at run time, from its own stage and from the stages below it, never from a stage
above. Imports made only for type annotations (under ``if TYPE_CHECKING:``) are exempt: they
do not run. Within the package no module depends, directly or through others, on itself.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "creditrules"

# Lowest first. See docs/explanation/architecture.md.
STAGES = ("base", "conditions", "agreement", "engine", "allocation", "io", "analysis",
          "fairness", "authoring", "shell")
TOP_LEVEL = {"errors": "base", "__init__": "shell", "cli": "shell", "pytest_plugin": "shell",
             "integrations": "shell"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def stage_of(name: str) -> str:
    parts = name.split(".")
    if len(parts) == 1:
        return "shell"
    head = parts[1]
    return TOP_LEVEL.get(head, head)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def runtime_imports(path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """The creditrules modules ``path`` imports when it runs (inside functions too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = module_name(path)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]

    def walk(node: ast.AST) -> Iterator[tuple[str, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                yield from (x for n in child.orelse for x in walk_one(n))
                continue
            yield from walk_one(child)

    def walk_one(node: ast.AST) -> Iterator[tuple[str, int]]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("creditrules"):
                    yield resolve(alias.name), node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            if base.startswith("creditrules"):
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    yield (sub if sub in known else resolve(base)), node.lineno
        yield from walk(node)

    def resolve(name: str) -> str:
        while name not in known and "." in name:
            name = name.rpartition(".")[0]
        return name

    yield from walk(tree)


def graph() -> dict[str, dict[str, int]]:
    mods = modules()
    known = set(mods)
    return {name: {dep: line for dep, line in runtime_imports(path, known) if dep != name}
            for name, path in mods.items()}


def test_every_module_has_a_known_stage() -> None:
    unknown = sorted(n for n in modules() if stage_of(n) not in STAGES)
    assert unknown == []


def test_dependencies_point_down() -> None:
    rank = {s: i for i, s in enumerate(STAGES)}
    upward = []
    for name, deps in graph().items():
        for dep, line in deps.items():
            if dep == "creditrules" and name.count(".") == 0:
                continue
            if rank[stage_of(dep)] > rank[stage_of(name)]:
                upward.append(f"{name}:{line} ({stage_of(name)}) imports {dep} "
                              f"({stage_of(dep)})")
    assert upward == []


def test_no_import_circle() -> None:
    deps = graph()
    # Importing a submodule runs its package's __init__ first: that edge is implicit, so a
    # package __init__ importing its own submodules is not a circle by itself.
    state: dict[str, int] = {}
    circles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(deps.get(node, {})):
            if state.get(dep) == 1:
                circles.append([*path[path.index(dep):], dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for name in sorted(deps):
        if name not in state:
            visit(name, [name])
    assert circles == []


@pytest.mark.parametrize("stage", STAGES[:-1])
def test_stage_packages_exist(stage: str) -> None:
    assert (SRC / stage / "__init__.py").is_file() or (stage == "base" and (
        SRC / "errors.py").is_file())
