"""The web application's built files (web/dist), served on the API's origin.

Every GET or HEAD outside the API (`/v1/...`, `/api/...`, the health probes) is the web's:
`/x` is the file `x` or `x/index.html`; the workspace's routes get the single-page app's shell
(`app/index.html`); anything else is `404.html` with status 404. An anonymous visitor asking for
a workspace page is sent to `/login?next=...` by the server, so it works without script.

A request path is decoded by the server before it gets here (`%2e%2e` is already `..`), and a
dot segment, a backslash or a NUL is refused outright; what remains is resolved and must still
lie inside the dist directory, so a symlink pointing out of it is not followed either.
"""

from __future__ import annotations

import mimetypes
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

API_PREFIXES = ("/v1/", "/api/")
API_PATHS = frozenset({"/v1", "/api", "/healthz", "/readyz"})
# The single-page app's routes, and those of them only a signed-in user may open.
_SIGNED_IN_PAGES = "research|billing|datasets|templates|monitors|settings|ops"
APP_ROUTES = re.compile(rf"^/(login|signup|{_SIGNED_IN_PAGES})(/.*)?$|^/share/[^/]+$")
SIGNED_IN_ROUTES = re.compile(rf"^/({_SIGNED_IN_PAGES})(/.*)?$")
APP_SHELL = "app/index.html"
NOT_FOUND_PAGE = "404.html"
MAX_PATH_CHARS = 1024

HTML_CACHE = "no-cache"  # revalidated every time: a deploy shows at once
ASSET_CACHE = "public, max-age=31536000, immutable"  # content-hashed names never change
CSP = "default-src 'self'; base-uri 'self'; object-src 'none'; form-action 'self'; frame-ancestors 'none'"
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
MEDIA_TYPES = {".xml": "application/xml", ".webmanifest": "application/manifest+json", ".js": "text/javascript"}

# Whether the request carries a valid session (the cookie names a live session of a member).
SignedIn = Callable[[Request], Awaitable[bool]]


def is_api_path(path: str) -> bool:
    return path in API_PATHS or path.startswith(API_PREFIXES)


class WebFiles:
    """The files of one built web application."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.realpath(root))

    def find(self, path: str) -> Path | None:
        """The file `path` names (itself, or its index.html), or None: absent, or not safely inside the root."""
        if len(path) > MAX_PATH_CHARS or "\\" in path or "\x00" in path:
            return None
        parts = [p for p in path.split("/") if p]
        if any(p in (".", "..") for p in parts):
            return None
        base = self.root.joinpath(*parts)
        for candidate in (base, base / "index.html"):
            real = Path(os.path.realpath(candidate))
            if real.is_file() and real.is_relative_to(self.root):
                return real
        return None

    def response(self, file: Path, method: str, status_code: int = 200) -> Response:
        body = file.read_bytes()
        media_type = MEDIA_TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if media_type.startswith("text/") or media_type in ("application/xml", "application/json"):
            media_type += "; charset=utf-8"
        if file.name == "feed.xml":
            media_type = "application/atom+xml; charset=utf-8"
        in_assets = file.is_relative_to(self.root / "assets")
        headers = {"Cache-Control": ASSET_CACHE if in_assets else HTML_CACHE, **SECURITY_HEADERS}
        if method == "HEAD":
            headers["Content-Length"] = str(len(body))
            return Response(b"", status_code, headers=headers, media_type=media_type)
        return Response(body, status_code, headers=headers, media_type=media_type)

    def not_found(self, method: str) -> Response:
        page = self.find(NOT_FOUND_PAGE)
        if page is None:
            return Response("not found", 404, headers={"Cache-Control": HTML_CACHE, **SECURITY_HEADERS})
        return self.response(page, method, 404)


class WebApp:
    """ASGI middleware: the web's requests answered from `root`, the rest passed to the API."""

    def __init__(self, app: ASGIApp, root: Callable[[], Path | None], signed_in: SignedIn) -> None:
        self.app = app
        self.root = root
        self.signed_in = signed_in
        self._files: WebFiles | None = None

    def files(self) -> WebFiles | None:
        root = self.root()
        if root is None:
            return None
        if self._files is None or self._files.root != Path(os.path.realpath(root)):
            self._files = WebFiles(root)
        return self._files

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The API's requests first, without a look at the files (resolving the root costs syscalls).
        web = scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and not is_api_path(scope["path"])
        files = self.files() if web else None
        if files is None:
            await self.app(scope, receive, send)
            return
        response = await self.answer(files, Request(scope, receive))
        await response(scope, receive, send)

    async def answer(self, files: WebFiles, request: Request) -> Response:
        path, method = str(request.scope["path"]), request.method
        if APP_ROUTES.match(path):
            if SIGNED_IN_ROUTES.match(path) and not await self.signed_in(request):
                query = bytes(request.scope.get("query_string", b"")).decode("latin-1")
                target = path + (f"?{query}" if query else "")
                headers = {"Cache-Control": "no-store", **SECURITY_HEADERS}
                return RedirectResponse(f"/login?{urlencode({'next': target})}", 303, headers=headers)
            shell = files.find(APP_SHELL)
            return files.response(shell, method) if shell is not None else files.not_found(method)
        found = files.find(path)
        return files.response(found, method) if found is not None else files.not_found(method)


def default_dist() -> Path | None:
    """The repository's web/dist, when it has been built."""
    dist = Path(__file__).resolve().parents[2] / "web" / "dist"
    return dist if dist.is_dir() else None
