"""Which Chromium Playwright drives: Debian's `chromium` package (Playwright's own browser
download is not needed), found on PATH or named by QUARRY_CHROMIUM."""

from __future__ import annotations

import os
import shutil

INSTALL_HINT = "install Debian's `chromium` (apt-get install chromium) or set QUARRY_CHROMIUM to a Chromium executable"


def chromium_path() -> str | None:
    given = os.environ.get("QUARRY_CHROMIUM")
    if given:
        return given
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None
