"""Every service's domain reads no environment: settings come in through bootstrap, never from os.environ."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def domain_modules() -> list[str]:
    """The source modules of the import-linter contracts that keep each domain free of I/O."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    return [m for c in contracts if c["name"].endswith("domain does no I/O") for m in c["source_modules"]]


def files_of(module: str) -> list[Path]:
    path = ROOT.joinpath(*module.split("."))
    if path.is_dir():
        return sorted(path.rglob("*.py"))
    return [path.with_suffix(".py")]


READERS = frozenset({"environ", "getenv", "environb", "getenvb"})


def environment_reads(tree: ast.AST) -> list[int]:
    """Lines that read the environment: `os.environ`, `os.getenv`, or either imported from os."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in READERS:
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                lines.add(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and READERS & {a.name for a in node.names}:
            lines.add(node.lineno)
    return sorted(lines)


def test_every_service_has_a_domain_contract() -> None:
    owners = {module.split(".")[1] for module in domain_modules()}
    services = {p.name for p in (ROOT / "services").iterdir() if (p / "__init__.py").exists()}
    assert owners == services


@pytest.mark.parametrize("module", domain_modules())
def test_the_domain_reads_no_environment(module: str) -> None:
    files = files_of(module)
    assert files and all(f.exists() for f in files), f"{module} names no source file"
    reads = {str(f.relative_to(ROOT)): found for f in files if (found := environment_reads(ast.parse(f.read_text())))}
    assert reads == {}


def test_the_check_sees_both_ways_of_reading_the_environment() -> None:
    source = "import os\nfrom os import getenv\nA = os.environ['X']\nB = os.getenv('Y')\n"
    assert environment_reads(ast.parse(source)) == [2, 3, 4]
