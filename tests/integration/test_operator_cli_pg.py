"""`quarry operator` on a gateway store in PostgreSQL: the command finds the gateway's schema from
`DATABASE_URL` and `QUARRY_DB_SCHEMA_PREFIX` (as `quarry up` hands them to the gateway), and the
role it grants is what the gateway reads for that account on its next request."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from quarry_runtime.store import SqlDatabase
from services.gateway.readmodels.store import GatewayStore
from services.gateway.settings import GatewaySettings
from tests.support.operators import quarry_operator

pytestmark = pytest.mark.infra
PREFIX = "opscli"


async def test_grant_list_and_revoke_reach_the_gateways_postgresql_schema(database_url: str, tmp_path: Path) -> None:
    settings = GatewaySettings(data_dir=tmp_path / "gateway", database_url=database_url, db_schema_prefix=PREFIX)
    db = SqlDatabase(settings, "gateway")
    store = GatewayStore(db)
    store.accounts.create_tenant_with_owner("t1", "acme", "u1", "ann@example.com", "hash")
    env = {"DATABASE_URL": database_url, "QUARRY_DB_SCHEMA_PREFIX": PREFIX}

    async def quarry(*args: str) -> subprocess.CompletedProcess[str]:
        # No data directory of the gateway's: with a database, the store is there and nowhere else.
        return await quarry_operator(*args, data_dir=tmp_path / "elsewhere", cwd=tmp_path, env=env)

    try:
        granted = await quarry("grant", "ann@example.com", "--role", "platform_admin")
        assert granted.returncode == 0, granted.stdout + granted.stderr
        who = store.accounts.principal("u1", "t1")
        assert who is not None and who.roles == ("owner", "platform_admin") and who.can("ops:read")

        listed = await quarry("list")
        assert listed.returncode == 0 and "ann@example.com" in listed.stdout and "platform_admin" in listed.stdout

        revoked = await quarry("revoke", "ann@example.com")
        assert revoked.returncode == 0, revoked.stdout + revoked.stderr
        who = store.accounts.principal("u1", "t1")
        assert who is not None and who.roles == ("owner",)
        kinds = [e["kind"] for e in store.platform_audit.entries()]
        assert kinds == ["operator.granted", "operator.revoked"]
    finally:
        db.close()
