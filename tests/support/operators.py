"""Platform operators in tests: `quarry operator` run as a person runs it (its own process, on
the store a running gateway uses), and the gateway's `/v1/ops/` routes found by walking the app."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

from fastapi import FastAPI

from tests.support.gateway import api_routes

REPO = Path(__file__).resolve().parents[2]
# What a caller's environment could add to pick another store than the one the test names.
_STORE_VARIABLES = ("DATABASE_URL", "QUARRY_DATABASE_URL", "QUARRY_DATA_DIR", "QUARRY_DB_SCHEMA_PREFIX")


async def quarry_operator(
    *args: str, data_dir: Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`quarry operator ARGS --data-dir DATA_DIR`, from `cwd` (where no `.env` is), off the loop."""
    environment = {k: v for k, v in os.environ.items() if k not in _STORE_VARIABLES}
    environment.update(PYTHONPATH=str(REPO), COLUMNS="200", **(env or {}))
    command = [sys.executable, "-m", "devtools.cli", "operator", *args, "--data-dir", str(data_dir)]
    return await asyncio.to_thread(
        subprocess.run, command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120
    )


def ops_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route under /v1/ops/, however it was added; a path parameter is
    filled with a placeholder (the permission is checked before the route looks at it)."""
    found = {(method, route.path) for route in api_routes(app.routes) for method in route.methods or ()}
    ops = [(m, p) for m, p in found if p.startswith("/v1/ops/") or p == "/v1/ops"]
    return sorted((m, re.sub(r"\{[^}]+\}", "probe", p)) for m, p in ops)
