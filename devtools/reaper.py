"""Stops a local stack's processes once the process that started it is gone.

A stack's services run in sessions of their own (so a Ctrl-C in a terminal reaches the stack,
which stops them in order), and so outlive a parent that dies without stopping them: a test run
killed by a time-out, a `quarry up` killed -9. They then spin for ever on a bus that went with
it. The stack starts this watcher beside its services; it polls the owner's pid, and when the
owner is gone it stops (SIGTERM, then SIGKILL) every process that carries the stack's tag in its
environment or names the stack's data directory on its command line (nats-server's store).
A stack stopped normally stops its watcher first.

Linux only (it reads /proc); elsewhere it exits at once and changes nothing.

    python -m devtools.reaper OWNER_PID TAG DATA_DIR
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

TAG_VARIABLE = "QUARRY_STACK_TAG"
POLL_S = 1.0
GRACE_S = 10.0
PROC = Path("/proc")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def members(tag: str, data_dir: str) -> Iterator[int]:
    """The pids of the stack's processes (not this one)."""
    marker = f"{TAG_VARIABLE}={tag}".encode()
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if marker in environ.split(b"\0") or _names(cmdline, data_dir.encode()):
            yield int(entry.name)


def _names(cmdline: bytes, data_dir: bytes) -> bool:
    """Whether an argument of the command line is the data directory or a path below it."""
    return any(arg == data_dir or arg.startswith(data_dir + b"/") for arg in cmdline.split(b"\0")[1:])


def watch(data_dir: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """Start the watcher of a stack kept in `data_dir` that this process owns; returns it and the
    environment its services must carry to be reaped with it."""
    tag = secrets.token_hex(8)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "devtools.reaper", str(os.getpid()), tag, str(data_dir)],
        cwd=Path(__file__).resolve().parent.parent,
        start_new_session=True,  # a signal to the owner's group is the owner's to handle
    )
    return watcher, {TAG_VARIABLE: tag}


def reap(tag: str, data_dir: str) -> list[int]:
    """Stop the stack's processes: SIGTERM, then SIGKILL to those still there after the grace."""
    found = list(members(tag, data_dir))
    for pid in found:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline and any(alive(pid) for pid in found):
        time.sleep(0.2)
    for pid in found:
        _signal(pid, signal.SIGKILL)
    return found


def stop_process(proc: subprocess.Popen[bytes] | None, timeout_s: float = 10.0) -> None:
    """Stop a child: SIGTERM, and SIGKILL if it is still there after `timeout_s`."""
    if proc is None:
        return
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def main(argv: list[str]) -> int:
    if len(argv) != 3 or not argv[0].isdigit() or not argv[1]:
        print(__doc__, file=sys.stderr)
        return 2
    if not PROC.is_dir():
        return 0
    owner, tag, data_dir = int(argv[0]), argv[1], str(Path(argv[2]).resolve())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # the stack stopped normally
    while alive(owner) and os.getppid() == owner:
        time.sleep(POLL_S)
    reaped = reap(tag, data_dir)
    if reaped:
        print(f"reaper: the stack's owner {owner} is gone; stopped {len(reaped)} processes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
