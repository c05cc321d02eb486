"""Browser tests: Debian's Chromium driven by Playwright against a whole stack (every service
as its own process, real NATS) whose gateway serves the built web application.

Playwright's sync API runs an event loop on the test's thread for as long as it is started, and
every other test file needs that thread free for asyncio.run: so Playwright lives for one test
module (one file, which xdist's loadfile keeps on one worker) and is stopped after it."""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from devtools import natsserver
from devtools.browser import INSTALL_HINT, chromium_path
from devtools.stack import Stack, StackConfig

REPO = Path(__file__).resolve().parents[2]
WEB_DIST = REPO / "web" / "dist"
AXE = REPO / "web" / "node_modules" / "axe-core" / "axe.min.js"
# A screenshot at every settled point, and Playwright's trace of each failed test.
ARTEFACTS = REPO / "test-results"


def off_this_thread(work: Callable[[], object]) -> None:
    """A stack's start and stop run asyncio.run (to make its streams), which cannot run on a
    thread where Playwright's loop is running: they go to a thread of their own."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(work).result()


@contextmanager
def healthy_stack(config: StackConfig) -> Iterator[Stack]:
    """A stack started and healthy beside Playwright's loop, stopped after."""
    stack = Stack(config)
    try:
        off_this_thread(stack.start)
        off_this_thread(lambda: stack.wait_healthy(timeout_s=240))
        yield stack
    finally:
        off_this_thread(stack.stop)


@pytest.fixture(scope="session")
def built_web() -> Path:
    for needed in (WEB_DIST / "index.html", WEB_DIST / "app" / "index.html", AXE):
        if not needed.is_file():
            pytest.fail(f"{needed} is missing: build the web application first (make web)")
    return WEB_DIST


@pytest.fixture(scope="module")
def web_stack(built_web: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack on the embedded default whose gateway serves web/dist, as `make up` runs it."""
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("browser"),
        http_port=natsserver.free_port(),
        extra_env={"QUARRY_WEB_DIST": str(built_web)},
    )
    with healthy_stack(config) as stack:
        yield stack


@pytest.fixture(scope="module")
def base_url(web_stack: Stack) -> str:
    return f"http://127.0.0.1:{web_stack.config.http_port}"


@pytest.fixture(scope="module")
def browser(web_stack: Stack) -> Iterator[Browser]:
    executable = chromium_path()
    if executable is None:
        pytest.fail(f"no Chromium to drive: {INSTALL_HINT}")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=executable)
        try:
            yield launched
        finally:
            launched.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        item.stash[FAILED] = True
    return report


FAILED = pytest.StashKey[bool]()


def artefact_dir(item: pytest.Item) -> Path:
    return ARTEFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "-", item.nodeid).strip("-")


@pytest.fixture
def context(browser: Browser, base_url: str, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    """A fresh browser profile for one test, traced: the trace is kept when the test fails
    (open it with `.venv/bin/playwright show-trace test-results/<test>/trace.zip`)."""
    ctx = browser.new_context(base_url=base_url)
    ctx.tracing.start(screenshots=True, snapshots=True, sources=True)
    try:
        yield ctx
    finally:
        if request.node.stash.get(FAILED, False):
            out = artefact_dir(request.node)
            out.mkdir(parents=True, exist_ok=True)
            ctx.tracing.stop(path=str(out / "trace.zip"))
        else:
            ctx.tracing.stop()
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
