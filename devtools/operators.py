"""`quarry operator`: grant and revoke platform roles on the running stack's accounts, and read
the platform's audit log.

The command writes where the gateway keeps its accounts (the same SQLite file under the data
directory, or the same PostgreSQL schema: `DATABASE_URL` and `QUARRY_DB_SCHEMA_PREFIX` from the
environment or `.env`, as `quarry up` reads them), through the gateway's own store code, so the
change and its entry in the platform's audit log are one transaction. The gateway reads roles on
every request, so a grant or a revocation applies to the holder's next request, without a
restart. Nothing here goes through the HTTP API: the API never grants a platform role. The one
exception is `evaluate` (`devtools.agent_eval`), which is a client of the ops API like any other:
it reads an agent version and posts its offline evaluation with an operator's token.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from devtools.agent_eval import evaluate
from devtools.stack import caller_environment
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import SqlDatabase
from services.gateway.adapters.operators import NoSuchAccount, OperatorRoles, RoleChange
from services.gateway.adapters.platform_audit import KINDS, PlatformActor
from services.gateway.bootstrap import NAME as GATEWAY
from services.gateway.domain.permissions import PLATFORM_ROLES
from services.gateway.readmodels.store import GatewayStore

app = typer.Typer(help="Grant and revoke platform roles (platform_operator, platform_admin).", no_args_is_help=True)
console = Console()
app.command()(evaluate)  # the eval gate of an agent version (talks to the gateway, not its store)

DataDir = typer.Option(Path(os.environ.get("QUARRY_DATA_DIR", ".data")), help="the stack's data directory")
Role = typer.Option(None, "--role", help=f"one of {', '.join(PLATFORM_ROLES)}")


def store_settings(data_dir: Path, env_file: Path = Path(".env")) -> RuntimeSettings:
    """Where the running stack's gateway keeps its accounts."""
    env = caller_environment(env_file)
    return RuntimeSettings(
        data_dir=data_dir.resolve(),
        database_url=env.get("DATABASE_URL") or env.get("QUARRY_DATABASE_URL") or None,
        db_schema_prefix=env.get("QUARRY_DB_SCHEMA_PREFIX", "quarry"),
    )


@contextmanager
def operator_roles(settings: RuntimeSettings) -> Iterator[OperatorRoles]:
    with gateway_store(settings) as store:
        yield store.operators


@contextmanager
def gateway_store(settings: RuntimeSettings) -> Iterator[GatewayStore]:
    if not settings.database_url:
        state = settings.data_dir / GATEWAY / "state.sqlite3"
        if not state.is_file():
            console.print(f"[red]no gateway store at {state}: is the data directory (--data-dir) right?[/red]")
            raise typer.Exit(2)
    db = SqlDatabase(settings, GATEWAY)
    try:
        yield GatewayStore(db)
    finally:
        db.close()


def _actor() -> PlatformActor:
    return PlatformActor(name=f"cli:{getpass.getuser()}@{socket.gethostname()}", source_address="cli")


def _report(change: RoleChange) -> None:
    held = ", ".join(change.after) or "no platform role"
    verb = "now holds" if change.changed else "already held what was asked; holds"
    console.print(f"{change.email} (tenant {change.tenant_id}) {verb}: {held}", highlight=False)


def _checked(role: str | None) -> None:
    if role is not None and role not in PLATFORM_ROLES:
        console.print(f"[red]{role!r} is no platform role; choose from {', '.join(PLATFORM_ROLES)}[/red]")
        raise typer.Exit(2)


@app.command()
def grant(email: str, role: str = typer.Option("platform_operator", "--role"), data_dir: Path = DataDir) -> None:
    """Give the account with EMAIL a platform role (platform_operator unless --role says otherwise)."""
    _checked(role)
    with operator_roles(store_settings(data_dir)) as roles:
        try:
            _report(roles.grant(email, role, _actor()))
        except NoSuchAccount as exc:
            console.print(f"[red]{exc.detail}[/red]", highlight=False)
            raise typer.Exit(1) from exc


@app.command()
def revoke(email: str, role: str | None = Role, data_dir: Path = DataDir) -> None:
    """Take a platform role from the account with EMAIL (every platform role it holds without --role)."""
    _checked(role)
    with operator_roles(store_settings(data_dir)) as roles:
        try:
            _report(roles.revoke(email, _actor(), role))
        except NoSuchAccount as exc:
            console.print(f"[red]{exc.detail}[/red]", highlight=False)
            raise typer.Exit(1) from exc


@app.command("list")
def list_holders(data_dir: Path = DataDir) -> None:
    """Every account holding a platform role."""
    with operator_roles(store_settings(data_dir)) as roles:
        table = Table("email", "tenant", "platform roles")
        for holder in roles.holders():
            table.add_row(holder["email"], holder["tenant_id"], ", ".join(holder["roles"]))
        console.print(table)


@app.command()
def audit(
    limit: int = typer.Option(50, "--limit", min=1, max=10_000),
    kind: str | None = typer.Option(None, "--kind", help=f"one of {', '.join(sorted(KINDS))}"),
    actor: str | None = typer.Option(None, "--actor", help="an operator's email, or a `cli:` name"),
    data_dir: Path = DataDir,
) -> None:
    """The platform's audit log, newest first: grants, revocations, every use of the ops routes."""
    if kind is not None and kind not in KINDS:
        console.print(f"[red]{kind!r} is no kind of entry; choose from {', '.join(sorted(KINDS))}[/red]")
        raise typer.Exit(2)
    with gateway_store(store_settings(data_dir)) as store:
        entries = store.platform_audit.newest(limit=limit, kind=kind, actor=actor)
    table = Table("seq", "at", "kind", "actor", "from", "target", "detail")
    for e in entries:
        detail = json.dumps(e["detail"], sort_keys=True)
        table.add_row(
            str(e["seq"]), e["at"], e["kind"], e["actor"]["name"], e["source_address"], e["target"] or "", detail
        )
    console.print(table)
