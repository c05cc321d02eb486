"""`quarry`: run the platform locally (up / down / demo), check its read models (replay), and
grant platform roles (operator)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path

import typer
from rich.console import Console

from devtools import operators
from devtools.stack import Stack, StackConfig, caller_environment

app = typer.Typer(help="Run Quarry on this machine.", no_args_is_help=True)
app.add_typer(operators.app, name="operator")
console = Console()


def _config(data_dir: Path, http_port: int, nats_nodes: int = 1) -> StackConfig:
    env_file = Path(".env")
    env = caller_environment(env_file)
    return StackConfig(
        data_dir=data_dir,
        http_port=http_port,
        nats_url=env.get("NATS_URL") or None,
        database_url=env.get("DATABASE_URL") or None,
        db_schema_prefix=env.get("QUARRY_DB_SCHEMA_PREFIX", "quarry"),
        environment="development",
        env_file=env_file,
        nats_nodes=nats_nodes,
    )


DataDir = typer.Option(Path(os.environ.get("QUARRY_DATA_DIR", ".data")), help="where stores and logs go")
HttpPort = typer.Option(int(os.environ.get("QUARRY_HTTP_PORT", "8000")), help="gateway port")
NatsNodes = typer.Option(
    1, min=1, max=5, help="nats-servers of the stack's own JetStream: 3 runs a local cluster, streams on three replicas"
)


@app.command()
def up(data_dir: Path = DataDir, http_port: int = HttpPort, nats_nodes: int = NatsNodes) -> None:
    """Run the stack in the foreground under the supervisor until SIGTERM / Ctrl-C."""
    logging.basicConfig(level="INFO", format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stack = Stack(_config(data_dir, http_port, nats_nodes))
    stopping = False

    def on_signal(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with stack:
        stack.wait_healthy()
        (data_dir / "stack.url").write_text(f"http://127.0.0.1:{http_port}")
        (data_dir / "stack.ready").write_text(str(os.getpid()))
        logging.getLogger("quarry.stack").info("all services healthy; gateway on http://127.0.0.1:%d", http_port)
        while not stopping:
            time.sleep(0.3)
    (data_dir / "stack.ready").unlink(missing_ok=True)


@app.command()
def wait(data_dir: Path = DataDir, timeout: float = 180.0) -> None:
    """Wait until a stack started with `up` reports healthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (data_dir / "stack.ready").exists():
            url_file = data_dir / "stack.url"
            url = url_file.read_text().strip() if url_file.exists() else "http://127.0.0.1:8000"
            console.print(f"[green]Quarry is up.[/green] Open {url}/ in a browser (sign up at {url}/signup);")
            console.print(f"the API is at {url}/v1 and its interactive reference at {url}/api/docs.")
            return
        pid_file = data_dir / "stack.pid"
        if pid_file.exists() and not _alive(int(pid_file.read_text())):
            console.print(f"[red]the stack exited; see {data_dir / 'logs'}[/red]")
            raise typer.Exit(1)
        time.sleep(0.3)
    console.print("[red]timed out waiting for the stack[/red]")
    raise typer.Exit(1)


@app.command()
def down(data_dir: Path = DataDir) -> None:
    """Stop a stack started with `make up`."""
    pid_file = data_dir / "stack.pid"
    if not pid_file.exists():
        console.print("no stack is running")
        return
    pid = int(pid_file.read_text())
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
    pid_file.unlink(missing_ok=True)
    console.print("Quarry is down.")


@app.command()
def demo(data_dir: Path = DataDir, http_port: int = HttpPort) -> None:
    """Start everything, ask one research question, stream progress, print the report paths."""
    from devtools.demo import run_demo

    sys.exit(run_demo(_config(data_dir, http_port), console))


@app.command()
def streams() -> None:
    """Apply QUARRY_STREAM_REPLICAS and the QUARRY_*_MAX_BYTES limits to the existing streams and
    buckets at NATS_URL. Needs a NATS user without limits: the services' own may not."""
    import asyncio

    from devtools.streams import configure
    from quarry_runtime.settings import RuntimeSettings

    changed = asyncio.run(configure(RuntimeSettings()))
    console.print(f"streams ensured; buckets updated: {', '.join(changed) or 'none'}")


@app.command()
def replay(
    keep: bool = typer.Option(False, "--keep", help="keep the rebuilt replay_* tables to inspect them"),
) -> None:
    """Rebuild the gateway's read models from the event log into fresh tables and compare them with the
    live ones; exits 1 and prints the differences unless identical. Best on a quiet system: a run still
    in flight may legitimately differ."""
    import asyncio

    from devtools.replay import StreamUnavailable, print_report, rebuild
    from services.gateway.settings import GatewaySettings

    try:
        report = asyncio.run(rebuild(GatewaySettings(), keep=keep))
    except StreamUnavailable as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from exc
    print_report(report, console)
    raise typer.Exit(0 if report.identical else 1)


@app.command("reseal-model-keys")
def reseal_model_keys() -> None:
    """Bind tenants' model API keys sealed by an older gateway (bound to the tenant only) to the
    endpoint URL stored beside each, so they open again; run once after upgrading."""
    import asyncio

    import nats

    from quarry_runtime.tenant_models import TenantModels
    from services.gateway.settings import GatewaySettings

    async def reseal() -> int:
        settings = GatewaySettings()
        servers = [u.strip() for u in settings.nats_url.split(",") if u.strip()]
        nc = await nats.connect(servers=servers, allow_reconnect=False, connect_timeout=5)
        try:
            models = TenantModels(lambda: nc.jetstream(), settings.secrets_key, replicas=settings.stream_replicas)
            return await models.reseal_legacy()
        finally:
            await nc.close()

    console.print(f"resealed {asyncio.run(reseal())} model API key(s)")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


if __name__ == "__main__":
    app()
