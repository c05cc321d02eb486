"""The rollout domain reads no clock: times come in as arguments, so a replay decides as the
original look did. (Its imports are held by the import-linter contract "The orchestrator domain
does no I/O" as well; this test also refuses the service's own adapters and environment reads.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.unit.test_domain_purity import environment_reads

PACKAGE = Path(__file__).resolve().parents[2] / "services" / "orchestrator" / "rollouts"
FORBIDDEN = ("nats", "faststream", "httpx", "psycopg", "sqlite3", "qdrant_client", "pydantic_settings")
FORBIDDEN_PROJECT = ("quarry_runtime.settings", "services.orchestrator.bootstrap", "services.orchestrator.handlers")
CLOCK_CALLS = frozenset({"now", "utcnow", "today", "time", "monotonic", "perf_counter"})


def imported(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def clock_reads(tree: ast.AST) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CLOCK_CALLS
    ]


MODULES = sorted(PACKAGE.glob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_the_module_imports_no_io_reads_no_environment_and_no_clock(path: Path) -> None:
    tree = ast.parse(path.read_text())
    bad = [
        name
        for name in imported(tree)
        if name.split(".")[0] in FORBIDDEN or any(name.startswith(p) for p in FORBIDDEN_PROJECT)
    ]
    assert bad == [] and environment_reads(tree) == [] and clock_reads(tree) == []


def test_the_package_is_all_there() -> None:
    names = {p.stem for p in MODULES}
    assert {"assignment", "sequences", "guards", "observations", "decision", "records", "domain"} <= names
