"""Report artifacts: content-addressed files under the data directory (an object store later)."""

from __future__ import annotations

import hashlib
from pathlib import Path


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, key: str, data: bytes) -> tuple[Path, str]:
        """Write `data` at `key` atomically; returns (path, sha256)."""
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"artifact key escapes the store: {key!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        return path, hashlib.sha256(data).hexdigest()

    def get(self, path: str, sha256: str) -> bytes:
        """Read an artifact and check it is the one that was published."""
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(self.root.resolve()):
            raise PermissionError("artifact outside the store")
        data = resolved.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError(f"artifact {path} does not match its published hash")
        return data
