"""A policy set as files: which file is the schema, the registry, a hard or a soft policy file.

The same layout is read from the repository (the policies shipped in the image) and from a
published version (an event carrying every file), so both get the same checks and the same
version digest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Final

from contracts.policy import MAX_POLICY_SET_BYTES, REGISTRY_FILE, SCHEMA_FILE, SOFT_DIR, policy_set_version
from services.policy.domain.errors import PolicyServiceError

_HARD_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\.cedar$")
_SOFT_NAME: Final = re.compile(rf"^{SOFT_DIR}/[A-Za-z0-9][A-Za-z0-9_.-]{{0,99}}\.cedar$")


class PolicyError(PolicyServiceError):
    """A policy set cannot be used: a file is missing, unparsable, or rejected by the schema."""


@dataclass(frozen=True, slots=True)
class PolicyFiles:
    """Every file of one policy set, by its name in the layout, and the version they make."""

    files: Mapping[str, str]
    version: str

    @property
    def schema(self) -> str:
        return self.files[SCHEMA_FILE]

    @property
    def registry(self) -> str:
        return self.files[REGISTRY_FILE]

    @property
    def hard(self) -> dict[str, str]:
        return {name: text for name, text in sorted(self.files.items()) if _HARD_NAME.match(name)}

    @property
    def soft(self) -> dict[str, str]:
        return {name: text for name, text in sorted(self.files.items()) if _SOFT_NAME.match(name)}

    @classmethod
    def from_mapping(cls, files: Mapping[str, str]) -> PolicyFiles:
        """Check the layout of a complete set: nothing is carried over from another version."""
        problems: list[str] = []
        unknown = [n for n in files if n not in (SCHEMA_FILE, REGISTRY_FILE) and not _is_policy(n)]
        if unknown:
            problems.append(
                f"unexpected files {sorted(unknown)}: a set holds {SCHEMA_FILE}, {REGISTRY_FILE}, "
                f"<name>.cedar (hard) and {SOFT_DIR}/<name>.cedar (soft)"
            )
        problems.extend(f"missing {name}" for name in (SCHEMA_FILE, REGISTRY_FILE) if name not in files)
        if not any(_HARD_NAME.match(n) for n in files):
            problems.append("no hard *.cedar policy files")
        size = sum(len(name) + len(text.encode()) for name, text in files.items())
        if size > MAX_POLICY_SET_BYTES:
            problems.append(f"the set is {size} bytes; at most {MAX_POLICY_SET_BYTES}")
        if problems:
            raise PolicyError("invalid policy set: " + "; ".join(problems))
        frozen = MappingProxyType(dict(sorted(files.items())))
        return cls(frozen, policy_set_version(frozen))

    @classmethod
    def from_directory(cls, directory: Path | str, registry: Path | str) -> PolicyFiles:
        """The schema and `*.cedar` files of `directory`, `soft/*.cedar` under it, and the registry."""
        root = Path(directory)
        files = {SCHEMA_FILE: _read(root / SCHEMA_FILE), REGISTRY_FILE: _read(Path(registry))}
        for path in sorted(root.glob("*.cedar")):
            files[path.name] = _read(path)
        for path in sorted((root / SOFT_DIR).glob("*.cedar")):
            files[f"{SOFT_DIR}/{path.name}"] = _read(path)
        if not any(_HARD_NAME.match(n) for n in files):
            raise PolicyError(f"no *.cedar policy files in {root}")
        return cls.from_mapping(files)


def _is_policy(name: str) -> bool:
    return bool(_HARD_NAME.match(name) or _SOFT_NAME.match(name))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read {path}: {exc}") from exc
