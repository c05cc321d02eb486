"""`python -m devtools.export_limits [--out PATH]`: the gateway's request limits the web app checks first.

The workspace refuses a file larger than the gateway accepts before uploading it; the number is
the default of the gateway's own setting, so the two agree unless a deployment changes it (the
gateway's 413 still answers then). The operations console offers, and keeps in its address, only
the platform audit kinds the gateway's filter accepts (any other is a 400). The web build reads
`web/src/generated/limits.json` (git-ignored).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from services.gateway.adapters.platform_audit import KIND_ORDER
from services.gateway.settings import GatewaySettings

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "web" / "src" / "generated" / "limits.json"


def limits() -> dict[str, Any]:
    """The limits as the web app reads them."""
    return {
        "max_upload_bytes": GatewaySettings.model_fields["max_upload_bytes"].default,
        "audit_kinds": list(KIND_ORDER),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(limits(), indent=2, sort_keys=True) + "\n")
    print(args.out)


if __name__ == "__main__":
    main()
