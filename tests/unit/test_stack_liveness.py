"""The local supervisor restarts a process that runs but whose liveness fails, not only one that exits."""

from __future__ import annotations

import logging
import sys
import textwrap
import time
from pathlib import Path

import pytest

from devtools import natsserver
from devtools.stack import Proc, Stack, StackConfig
from tests.support.polling import wait_for

# A stand-in service: live for its first second, then wedged (503 with a reason), never exiting.
FAKE = textwrap.dedent(
    """
    import json, os, time
    from http.server import BaseHTTPRequestHandler, HTTPServer

    started = time.monotonic()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            wedged = time.monotonic() - started > 1.0
            body = json.dumps({"status": "not live" if wedged else "ok", "reasons": ["consumer timers: stuck"] if wedged else []})
            self.send_response(503 if wedged else 200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    print("fake started", os.getpid(), flush=True)
    HTTPServer(("127.0.0.1", int(os.environ["QUARRY_HEALTH_PORT"])), Handler).serve_forever()
    """
)


class FakeStack(Stack):
    def __init__(self, config: StackConfig, script: Path) -> None:
        super().__init__(config)
        self.script = script

    def command(self, name: str) -> list[str]:
        return [sys.executable, str(self.script)]


def test_a_process_whose_liveness_keeps_failing_is_killed_and_restarted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script = tmp_path / "fake_service.py"
    script.write_text(FAKE)
    stack = FakeStack(StackConfig(data_dir=tmp_path, liveness_failure_s=1.5, liveness_interval_s=0.2), script)
    stack.logs.mkdir(parents=True)
    port = natsserver.free_port()
    first = stack._spawn("fake", port)
    stack.procs["fake"] = Proc("fake", first, port)
    caplog.set_level(logging.WARNING, logger="quarry.stack")
    stack.start_supervisor()
    try:
        wait_for(lambda: stack.procs["fake"].restarts >= 1, 15, "the wedged process to be restarted", every_s=0.1)
        assert first.poll() is not None  # killed, not left running beside its replacement
        assert stack.procs["fake"].popen.pid != first.pid
        text = caplog.text
        assert "fake failed liveness" in text and "consumer timers: stuck" in text and "killing it" in text
        assert "fake is back" in text
    finally:
        stack.stop()


def test_a_process_that_never_became_live_is_left_to_start(tmp_path: Path) -> None:
    script = tmp_path / "slow.py"
    script.write_text("import time\ntime.sleep(30)\n")  # no probe at all: still starting
    stack = FakeStack(StackConfig(data_dir=tmp_path, liveness_failure_s=0.5, liveness_interval_s=0.1), script)
    stack.logs.mkdir(parents=True)
    port = natsserver.free_port()
    stack.procs["slow"] = Proc("slow", stack._spawn("slow", port), port)
    past_failure = time.monotonic() + 0.5  # liveness_failure_s
    stack.start_supervisor()
    try:
        # A probe past the failure window, then one more: the supervisor has decided on the first.
        slow = stack.procs["slow"]
        wait_for(lambda: slow.last_probe > past_failure, 15, "a probe past the failure window")
        decided = slow.last_probe
        wait_for(lambda: slow.last_probe > decided, 15, "the supervisor's next probe", every_s=0.05)
        assert slow.restarts == 0
    finally:
        stack.stop()
