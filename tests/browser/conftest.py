"""Browser tests: Debian's Chromium driven by Playwright against a whole stack (every service
as its own process, real NATS) whose gateway serves the built web application."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from devtools.browser import INSTALL_HINT, chromium_path
from devtools.stack import Stack, StackConfig
from quarry_runtime import natsserver

REPO = Path(__file__).resolve().parents[2]
WEB_DIST = REPO / "web" / "dist"
AXE = REPO / "web" / "node_modules" / "axe-core" / "axe.min.js"
# Screenshots of every page, kept as test artefacts beside Playwright's traces of failed tests.
ARTEFACTS = REPO / "test-results"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    chromium = chromium_path()
    if chromium is None:
        pytest.fail(f"no Chromium to drive: {INSTALL_HINT}")
    return {**browser_type_launch_args, "executable_path": chromium}


@pytest.fixture(scope="session")
def built_web() -> Path:
    for needed in (WEB_DIST / "index.html", WEB_DIST / "app" / "index.html", AXE):
        if not needed.is_file():
            pytest.fail(f"{needed} is missing: build the web application first (make web)")
    return WEB_DIST


def off_this_thread(work: Callable[[], object]) -> None:
    """Playwright's sync API keeps an event loop running on the test's thread, and a stack's start
    and stop run asyncio.run (to make its streams): they go to a thread of their own."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(work).result()


@pytest.fixture(scope="session")
def web_stack(built_web: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack on the embedded default whose gateway serves web/dist, as `make up` runs it: one
    for every browser test a worker runs (pytest-playwright's contexts take the session's
    base_url)."""
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("browser"),
        http_port=natsserver.free_port(),
        extra_env={"QUARRY_WEB_DIST": str(built_web)},
    )
    stack = Stack(config)
    try:
        off_this_thread(stack.start)
        off_this_thread(lambda: stack.wait_healthy(timeout_s=240))
        yield stack
    finally:
        off_this_thread(stack.stop)


@pytest.fixture(scope="session")
def base_url(web_stack: Stack) -> str:
    """The origin pytest-playwright's `page` navigates relative URLs against."""
    return f"http://127.0.0.1:{web_stack.config.http_port}"
