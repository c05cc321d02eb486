"""A nats-server of a test's own, with every service's user, that the test can stop and start again."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools import natsserver
from quarry_security import natsauth


class Server:
    """A nats-server of this module's own (with the users the test fixture gives it), to restart."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="quarry-nats-restart-"))
        passwords = natsauth.StackCredentials(self.root / "credentials").ensure()
        admin = ("quarry-test", passwords.pop(natsauth.OPERATOR))
        self.config = natsauth.write_server_config(self.root / "nats.conf", passwords, admin=admin)
        self.port = natsserver.free_port()
        self.proc, url = natsserver.start(self.root / "store", port=self.port, config_file=self.config)
        self.url = url.replace("nats://", f"nats://{admin[0]}:{admin[1]}@", 1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def start(self) -> None:
        self.proc, _ = natsserver.start(self.root / "store", port=self.port, config_file=self.config)


@pytest.fixture
def server() -> Iterator[Server]:
    own = Server()
    yield own
    own.stop()
