"""What a process has used, read from /proc (psutil is not a dependency), and pausing processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

from devtools import natsserver
from devtools.reaper import stop_process as stop_process  # the benchmarks stop their servers with it

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Usage:
    """CPU seconds (user + system) and memory of one live process."""

    pid: int
    cpu_s: float
    rss_mib: float
    peak_rss_mib: float


def usage(pid: int) -> Usage | None:
    """None when the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # Fields after the command name (which may hold spaces) start at field 3 (state);
    # utime and stime are fields 14 and 15.
    fields = stat.rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    kib = {}
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            kib[key] = int(value.split()[0])
    return Usage(pid, cpu_s, kib.get("VmRSS", 0) / 1024, kib.get("VmHWM", 0) / 1024)


def pause(pids: Iterable[int]) -> None:
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)


def resume(pids: Iterable[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def start_python_module(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """`python -m ...` from the repository root, in its own session, output to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *args], cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_http_ok(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    """Poll `url` (GET) until it answers below 500, or fail when the process exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    port = int(url.split(":")[2].split("/")[0])
    natsserver.wait_for_port("127.0.0.1", port, timeout_s)
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
            try:
                if client.get(url).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout_s}s")
