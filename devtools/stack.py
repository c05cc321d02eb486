"""Runs the platform on one machine: nats-server (or a local three-node cluster) and seven services.

A supervisor thread restarts any service that dies, or whose liveness probe has failed for
`liveness_failure_s` after it was once live (a wedged process), as Kubernetes would, and logs
which one, why, and when it came back. Used by `make up`, `make demo` and the end-to-end tests.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from dotenv import dotenv_values

from devtools import natsserver, reaper, streams
from quarry_runtime.settings import RuntimeSettings
from quarry_security import natsauth

SERVICES = ("policy", "billing", "orchestrator", "retriever", "analyst", "reporter", "gateway")
log = logging.getLogger("quarry.stack")


@dataclass
class StackConfig:
    data_dir: Path
    http_port: int = 8000
    nats_url: str | None = None
    database_url: str | None = None
    db_schema_prefix: str = "quarry"
    extra_env: dict[str, str] = field(default_factory=dict)
    restart: bool = True
    replicas: dict[str, int] = field(default_factory=dict)  # e.g. {"orchestrator": 2}
    # The services' QUARRY_ENVIRONMENT unless the caller's environment or `env_file` sets one.
    environment: str = "development"
    env_file: Path | None = None  # a `.env` whose values the caller's own environment overrides
    # A service live once and failing its liveness probe (or not answering it) this long is
    # killed and started again; Kubernetes' livenessProbe does the same in a cluster.
    liveness_failure_s: float = 60.0
    liveness_interval_s: float = 5.0
    # With a server of its own: 3 starts a local JetStream cluster of three nodes (the services
    # get every node's URL, and streams and buckets are made on three replicas), to lose a node.
    nats_nodes: int = 1


def caller_environment(env_file: Path | None = None) -> dict[str, str]:
    """The caller's environment over the values of `env_file` (when it exists): what every
    service of the stack inherits, QUARRY_*, OTEL_*, NATS_URL and DATABASE_URL included."""
    from_file: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        from_file = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    return {**from_file, **os.environ}


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    health_port: int
    metrics_port: int | None = None  # /metrics, when not on the health port (the gateway's, never its API's)
    restarts: int = 0
    live_seen: bool = False  # answered its liveness probe once: failures count from then on
    failing_since: float | None = None
    last_probe: float = 0.0


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.data_dir = config.data_dir.resolve()
        self.logs = self.data_dir / "logs"
        self.procs: dict[str, Proc] = {}
        self.nats: subprocess.Popen[bytes] | None = None
        self.nats_cluster: natsserver.Cluster | None = None
        # With a server of its own: a URL carrying an unlimited user (tests, operator tools),
        # while each service connects with its own user (quarry_security.natsauth).
        self.nats_url = config.nats_url or ""
        self._services_nats_url = self.nats_url
        self._credentials: natsauth.StackCredentials | None = None
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._lock = threading.Lock()
        self._watcher: subprocess.Popen[bytes] | None = None  # devtools.reaper, while this stack runs
        self._tagged: dict[str, str] = {}

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self._watcher, self._tagged = reaper.watch(self.data_dir)
        if not self.nats_url:
            self._credentials = natsauth.StackCredentials(self.data_dir / "nats" / "credentials")
            if self.config.nats_nodes > 1:
                self.nats_cluster = natsserver.Cluster(
                    self.data_dir / "nats",
                    size=self.config.nats_nodes,
                    authorization=self._server_config(),
                    log_dir=self.logs,
                )
                self.nats_cluster.start()
                self._services_nats_url = self.nats_cluster.url
            else:
                self.nats, self._services_nats_url = natsserver.start(
                    self.data_dir / "nats", log_file=self.logs / "nats.log", config_file=self._server_config()
                )
            operator = self._credentials.ensure((natsauth.OPERATOR,))[natsauth.OPERATOR]
            self.nats_url = natsserver.with_user(self._services_nats_url, natsauth.OPERATOR, operator)
            # The services may create streams but not update them: bring the existing ones (a
            # data dir from an earlier run) to the configured limits as the operator would.
            asyncio.run(streams.configure(self._operator_settings()))
            log.info(
                "nats-server (JetStream) at %s, data under %s, a user per service (passwords in %s)",
                self._services_nats_url,
                self.data_dir / "nats",
                self._credentials.directory,
            )
        for service in SERVICES:
            for replica in range(1, self.config.replicas.get(service, 1) + 1):
                name = service if replica == 1 else f"{service}#{replica}"
                port = self.config.http_port if name == "gateway" else natsserver.free_port()
                metrics_port = natsserver.free_port() if name == "gateway" else port
                self.procs[name] = Proc(name, self._spawn(name, port, metrics_port), port, metrics_port)
        if self.config.restart:
            self.start_supervisor()

    def _operator_settings(self) -> RuntimeSettings:
        """The limits the caller configured (environment over `.env`), on the unlimited user."""
        settings = RuntimeSettings(
            _env_file=self.config.env_file,
            nats_user=None,
            nats_password=None,
            nats_password_file=None,
            nats_tls_ca_file=None,
        )
        update: dict[str, object] = {"nats_url": self.nats_url}
        if self.nats_cluster is not None:
            update["stream_replicas"] = self.config.nats_nodes
        return settings.model_copy(update=update)

    def _server_config(self) -> Path:
        assert self._credentials is not None
        passwords = self._credentials.ensure()
        operator = (natsauth.OPERATOR, passwords.pop(natsauth.OPERATOR))
        return natsauth.write_server_config(self.data_dir / "nats" / "nats.conf", passwords, admin=operator)

    def _env(self, name: str, port: int, metrics_port: int | None = None) -> dict[str, str]:
        name = name.split("#")[0]
        env = {"QUARRY_ENVIRONMENT": self.config.environment, **caller_environment(self.config.env_file)}
        # What the stack itself decides wins over the caller: where the data, the bus, the database
        # and the ports are (`quarry up` fills its config from the caller's NATS_URL and DATABASE_URL).
        for key in ("QUARRY_NATS_URL", "QUARRY_DATABASE_URL", "DATABASE_URL"):
            env.pop(key, None)
        if self._credentials is not None:
            # Its own server: each service gets its own user and only its own password file.
            for key in (
                "QUARRY_NATS_USER",
                "QUARRY_NATS_PASSWORD",
                "QUARRY_NATS_PASSWORD_FILE",
                "QUARRY_NATS_TLS_CA_FILE",
                "QUARRY_OPS_NATS_USER",
                "QUARRY_OPS_NATS_PASSWORD",
                "QUARRY_OPS_NATS_PASSWORD_FILE",
            ):
                env.pop(key, None)
            env["QUARRY_NATS_USER"] = name
            env["QUARRY_NATS_PASSWORD_FILE"] = str(self._credentials.password_file(name))
            if name == "gateway":  # and the operators' console's user beside its own
                env["QUARRY_OPS_NATS_USER"] = natsauth.OPS
                env["QUARRY_OPS_NATS_PASSWORD_FILE"] = str(self._credentials.password_file(natsauth.OPS))
        env.update(
            QUARRY_DATA_DIR=str(self.data_dir),
            NATS_URL=self._services_nats_url,
            QUARRY_DB_SCHEMA_PREFIX=self.config.db_schema_prefix,
            QUARRY_HEALTH_PORT=str(metrics_port or port),
            PYTHONUNBUFFERED="1",
            **self._tagged,
        )
        if name == "gateway":
            env["QUARRY_HTTP_PORT"] = str(port)
        if self.config.database_url:
            env["DATABASE_URL"] = self.config.database_url
        if self.nats_cluster is not None:
            env["QUARRY_STREAM_REPLICAS"] = str(self.config.nats_nodes)
        env.update(self.config.extra_env)
        return env

    def command(self, name: str) -> list[str]:
        """How a service (or a replica, `name#2`) is started."""
        return [sys.executable, "-m", f"services.{name.split('#')[0]}"]

    def _spawn(self, name: str, port: int, metrics_port: int | None = None) -> subprocess.Popen[bytes]:
        out = open(self.logs / f"{name.replace('#', '-')}.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            return subprocess.Popen(
                self.command(name),
                env=self._env(name, port, metrics_port),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parent.parent,
                start_new_session=True,
            )
        finally:
            out.close()

    def start_supervisor(self) -> None:
        self._supervisor = threading.Thread(target=self._supervise, name="supervisor", daemon=True)
        self._supervisor.start()

    def _supervise(self) -> None:
        with httpx.Client(timeout=2.0) as client:
            while not self._stopping.wait(0.5):
                for name in list(self.procs):
                    wedged = self._wedged(client, self.procs[name])
                    with self._lock:
                        proc = self.procs[name]
                        code = proc.popen.poll()
                        if self._stopping.is_set() or (code is None and wedged is None):
                            continue
                        if code is None:
                            log.warning(
                                "%s failed liveness at %s: %s; killing it", name, time.strftime("%H:%M:%S"), wedged
                            )
                            proc.popen.kill()
                            proc.popen.wait()
                        else:
                            log.warning(
                                "%s died (exit code %s) at %s; restarting", name, code, time.strftime("%H:%M:%S")
                            )
                        proc.popen = self._spawn(proc.name, proc.health_port, proc.metrics_port)
                        proc.restarts += 1
                        proc.live_seen, proc.failing_since = False, None
                        log.warning("%s is back (pid %d, restart #%d)", proc.name, proc.popen.pid, proc.restarts)

    def _wedged(self, client: httpx.Client, proc: Proc) -> str | None:
        """Why `proc` should be restarted although it runs: its liveness has failed for too long."""
        now = time.monotonic()
        if now - proc.last_probe < self.config.liveness_interval_s or proc.popen.poll() is not None:
            return None
        proc.last_probe = now
        try:
            response = client.get(self.live_url(proc.name))
            failure = None if response.status_code == 200 else f"{response.status_code} {response.text[:500]}"
        except httpx.HTTPError as exc:
            failure = f"no answer ({type(exc).__name__})"
        if failure is None:
            proc.live_seen, proc.failing_since = True, None
            return None
        if not proc.live_seen:
            return None  # still starting: Kubernetes' startupProbe, not liveness, covers this
        if proc.failing_since is None:
            proc.failing_since = now
        failed_for = now - proc.failing_since
        if failed_for < self.config.liveness_failure_s:
            return None
        return f"failing for {failed_for:.0f}s: {failure}"

    def restart_nats(self) -> None:
        """Stop the embedded nats-server and start it again on the same port and store (chaos)."""
        if self.nats is None:
            raise RuntimeError("this stack does not own a single nats-server (a cluster: see nats_cluster)")
        port = int(self.nats_url.rsplit(":", 1)[1])
        self.nats.terminate()
        self.nats.wait(timeout=30)
        log.warning("nats-server stopped at %s; starting it again", time.strftime("%H:%M:%S"))
        self.nats, _ = natsserver.start(
            self.data_dir / "nats", port=port, log_file=self.logs / "nats.log", config_file=self._server_config()
        )

    def kill(self, name: str) -> None:
        """kill -9 one service (chaos); the supervisor brings it back."""
        with self._lock:
            self.procs[name].popen.send_signal(signal.SIGKILL)

    def health_url(self, name: str) -> str:
        """Readiness: every dependency answers."""
        return f"http://127.0.0.1:{self.procs[name].health_port}/readyz"

    def metrics_url(self, name: str) -> str:
        proc = self.procs[name]
        return f"http://127.0.0.1:{proc.metrics_port or proc.health_port}/metrics"

    def live_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.procs[name].health_port}/healthz"

    def wait_healthy(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        pending = set(self.procs)
        with httpx.Client(timeout=2.0) as client:
            while pending and time.monotonic() < deadline:
                for name in sorted(pending):
                    proc = self.procs[name]
                    if proc.popen.poll() is not None and not self.config.restart:
                        raise RuntimeError(
                            f"{name} exited with {proc.popen.returncode}; see {self.logs / (name + '.log')}"
                        )
                    try:
                        if client.get(self.health_url(name)).status_code == 200:
                            pending.discard(name)
                    except httpx.HTTPError:
                        pass
                time.sleep(0.2)
        if pending:
            tails = "\n".join(f"--- {n}.log ---\n{self.tail(n)}" for n in sorted(pending))
            raise TimeoutError(f"not healthy after {timeout_s}s: {sorted(pending)}\n{tails}")

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name.replace('#', '-')}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        self._stopping.set()
        if self._supervisor:
            self._supervisor.join(timeout=5)
        with self._lock:
            for proc in self.procs.values():
                if proc.popen.poll() is None:
                    proc.popen.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for proc in self.procs.values():
                try:
                    proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log.warning("%s ignored SIGTERM; killing it", proc.name)
                    proc.popen.kill()
                    proc.popen.wait()
        if self.nats_cluster is not None:
            self.nats_cluster.stop()
        reaper.stop_process(self.nats)
        reaper.stop_process(self._watcher, timeout_s=2)

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
