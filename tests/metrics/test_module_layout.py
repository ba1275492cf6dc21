"""The engine's modules import one way: tasks (Celery) on jobs (services) on rollup (SQL)."""

import ast
from pathlib import Path

import metrics

ROOT = Path(metrics.__file__).parent


def imported(module: str) -> set[str]:
    """Every metrics module `module` imports, at the top or inside a function."""
    tree = ast.parse((ROOT / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                found.update([node.module] if node.module else [alias.name for alias in node.names])
            elif node.module and node.module.startswith("metrics."):
                found.add(node.module.removeprefix("metrics."))
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("metrics.") for a in node.names if a.name.startswith("metrics."))
    return found


def test_jobs_never_imports_tasks():
    assert "jobs" in imported("tasks")
    assert "tasks" not in imported("jobs")


def test_the_engine_imports_neither_jobs_nor_tasks():
    for module in ("rollup", "membership", "periods"):
        assert not {"jobs", "tasks"} & imported(module), module
