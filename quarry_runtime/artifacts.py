"""Report artifacts: content-addressed files under the data directory (an object store later).

A report's place is computed from its tenant and run ids (`reports/<tenant>/<run>/report.<ext>`)
by the writer and the reader alike: a path that arrives in an event is never opened, so a forged
`report.published` cannot point the gateway at another tenant's report or at any other file.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Literal

ReportFormat = Literal["md", "pdf", "docx"]
# Ids are UUIDs; anything that could be a path separator, `..` or empty is refused.
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ArtifactNotFound(Exception):
    """No artifact at the place the ids name."""


def report_key(tenant_id: str, run_id: str, fmt: ReportFormat) -> str:
    """The store key of a run's report in one format; `ValueError` for an id that is not a plain id."""
    for what, value in (("tenant id", tenant_id), ("run id", run_id)):
        if not _SAFE_ID.match(value):
            raise ValueError(f"not a {what}: {value!r}")
    return f"reports/{tenant_id}/{run_id}/report.{fmt}"


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"artifact key escapes the store: {key!r}")
        return path

    def put(self, key: str, data: bytes) -> tuple[Path, str]:
        """Write `data` at `key` atomically and durably; returns (path, sha256).

        The report is announced and its task acknowledged once this returns, so the bytes and
        the rename are flushed first: a rename alone may survive a power loss with the file empty.
        """
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        with tmp.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(path)
        _fsync_dir(path.parent)
        return path, hashlib.sha256(data).hexdigest()

    def get(self, key: str, sha256: str) -> bytes:
        """The artifact at `key`, checked to be the one that was published (`sha256`)."""
        try:
            data = self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ArtifactNotFound(key) from exc
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError(f"artifact {key} does not match its published hash")
        return data


def _fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
