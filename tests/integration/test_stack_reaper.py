"""A local stack's processes go when the process that started them dies without stopping them
(devtools.reaper): an owner killed -9 leaves no service or nats-server spinning behind it, and a
stack stopped in order takes its watcher with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from devtools import reaper

# An owner as a stack is one: it starts the watcher, then two children in sessions of their own,
# one tagged (a service) and one naming a path under the data directory (nats-server's store).
OWNER = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from pathlib import Path
    from devtools import reaper
    data_dir = Path(sys.argv[1])
    watcher, tagged = reaper.watch(data_dir)
    sleeper = [sys.executable, "-c", "import time; time.sleep(300)"]
    service = subprocess.Popen(sleeper, env={**os.environ, **tagged}, start_new_session=True)
    server = subprocess.Popen([*sleeper, str(data_dir / "nats" / "store")], start_new_session=True)
    print(watcher.pid, service.pid, server.pid, flush=True)
    time.sleep(300)
    """
)
REPO = Path(__file__).resolve().parents[2]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state == "Z"  # exited, not yet waited for by whoever adopted it


def until_gone(pids: list[int], timeout_s: float) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not all(gone(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if not gone(p)]


def test_a_stack_whose_owner_is_killed_is_stopped_with_it(tmp_path: Path) -> None:
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    started: list[int] = []
    try:
        assert owner.stdout is not None
        started += [int(p) for p in owner.stdout.readline().split()]
        time.sleep(reaper.POLL_S * 2)
        assert len(started) == 3 and not any(gone(p) for p in started)  # the owner lives: all stay
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        assert until_gone(started, timeout_s=reaper.POLL_S * 3 + reaper.GRACE_S) == []
    finally:
        owner.kill()
        for pid in started:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_stack_stopped_in_order_stops_its_watcher_and_nothing_else(tmp_path: Path) -> None:
    watcher, tagged = reaper.watch(tmp_path)
    sleeper = [sys.executable, "-c", "import time; time.sleep(300)"]
    service = subprocess.Popen(sleeper, env={**os.environ, **tagged})
    try:
        reaper.stop_process(watcher, timeout_s=5)
        assert watcher.returncode in (0, -signal.SIGTERM)
        time.sleep(reaper.POLL_S * 2)
        assert service.poll() is None  # its owner is still here: a stop in order reaps nothing
    finally:
        service.kill()
        service.wait()
