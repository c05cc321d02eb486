"""The gateway serving a built web application (a small dist tree made here, no npm): pages,
the app shell, the anonymous redirect, caching, security headers, 404s and traversal refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi.testclient import TestClient

from quarry_runtime.store import SqlDatabase
from services.gateway.api.deps import Components
from services.gateway.app import create_app
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import RunFeed
from services.gateway.readmodels.store import GatewayStore
from services.gateway.settings import GatewaySettings

FILES = {
    "index.html": "<title>Quarry</title>landing",
    "pricing/index.html": "pricing page",
    "docs/index.html": "product docs",
    "docs/concepts/index.html": "concepts page",
    "blog/feed.xml": "<feed/>",
    "sitemap.xml": "<urlset/>",
    "robots.txt": "User-agent: *",
    "404.html": "page not found here",
    "app/index.html": "<div id=root>app shell</div>",
    "assets/app-3f9a1c.js": "console.log(1)",
}


@pytest.fixture
def web(tmp_path: Path) -> Iterator[TestClient]:
    dist = tmp_path / "dist"
    for name, text in FILES.items():
        (dist / name).parent.mkdir(parents=True, exist_ok=True)
        (dist / name).write_text(text)
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the dist")
    (dist / "leak.txt").symlink_to(secret)
    (dist / "assets" / "up").symlink_to(tmp_path)
    settings = GatewaySettings(data_dir=tmp_path / "data", web_dist=dist)
    db = SqlDatabase(settings, "gateway")
    store = GatewayStore(db)
    parts = Components(settings, store, cast(Any, None), RunFeed(), cast(Any, None), MonitorStore(db))
    yield TestClient(create_app(parts), follow_redirects=False)
    db.close()


def _raw(http: TestClient, raw_path: bytes) -> httpx.Response:
    """A GET with the path exactly as given: httpx would otherwise remove the dot segments."""
    url = httpx.URL("http://testserver/").copy_with(raw_path=raw_path)
    response: httpx.Response = http.send(http.build_request("GET", url))
    return response


def _signed_in(http: TestClient) -> None:
    r = http.post(
        "/v1/auth/signup",
        json={"email": "web@example.com", "password": "long-enough-1", "tenant_name": "w", "session": "cookie"},
    )
    assert r.status_code == 201, r.text


def test_pages_files_and_their_headers(web: TestClient) -> None:
    for path, text in [("/", "landing"), ("/pricing", "pricing page"), ("/pricing/", "pricing page")]:
        r = web.get(path)
        assert r.status_code == 200 and text in r.text, path
        assert r.headers["content-type"].startswith("text/html") and r.headers["cache-control"] == "no-cache"
    assert web.get("/docs").text == "product docs" and web.get("/docs/concepts").text == "concepts page"
    assert web.get("/robots.txt").headers["content-type"].startswith("text/plain")
    assert web.get("/blog/feed.xml").headers["content-type"].startswith("application/atom+xml")
    asset = web.get("/assets/app-3f9a1c.js")
    assert asset.status_code == 200 and asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert asset.headers["content-type"].startswith("text/javascript")
    page = web.get("/pricing")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["referrer-policy"] == "same-origin"
    head = web.head("/pricing")
    assert (
        head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(len("pricing page"))
    )


def test_unknown_pages_get_the_404_page_and_the_api_stays_the_apis(web: TestClient) -> None:
    for path in ("/nope", "/pricing/nope", "/assets/missing.js"):
        r = web.get(path)
        assert r.status_code == 404 and r.text == "page not found here", path
        assert r.headers["x-content-type-options"] == "nosniff"
    api = web.get("/v1/nope")
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}
    assert web.get("/v1/auth/login").status_code == 405  # the API's answer, not the web's
    assert web.get("/api/openapi.json").json()["info"]["title"] == "Quarry"
    assert web.get("/api/docs").status_code == 200 and "swagger" in web.get("/api/docs").text.lower()
    assert web.get("/openapi.json").status_code == 404
    assert web.get("/healthz").status_code != 404


def test_anonymous_workspace_routes_go_to_login_and_back(web: TestClient) -> None:
    r = web.get("/research/runs/abc?tab=report")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fresearch%2Fruns%2Fabc%3Ftab%3Dreport"
    for path in (
        "/research",
        "/billing",
        "/datasets/x",
        "/templates",
        "/monitors/m1",
        "/settings/keys",
        "/ops/events/3",
    ):
        assert web.get(path).status_code == 303, path
    # Public app routes and a share link open the shell without a session.
    for path in ("/login", "/signup", "/share/qs_abc"):
        r = web.get(path)
        assert r.status_code == 200 and "app shell" in r.text, path
    _signed_in(web)
    # The operations console's shell too: the page itself refuses a user without a platform role.
    for path in ("/research", "/research/runs/abc", "/billing", "/settings", "/ops", "/ops/deadletters/7"):
        r = web.get(path)
        assert r.status_code == 200 and "app shell" in r.text, path
    # A forged or revoked cookie is no session.
    web.cookies.set("quarry_session", "not-a-token")
    assert web.get("/research").status_code == 303


@pytest.mark.parametrize(
    "raw",
    [
        b"/../secret.txt",
        b"/assets/../../secret.txt",
        b"/%2e%2e/secret.txt",
        b"/assets/%2e%2e/%2e%2e/secret.txt",
        b"/assets/..%2f..%2fsecret.txt",
        b"/assets%5c..%5c..%5csecret.txt",
        b"/leak.txt",
        b"/assets/up/secret.txt",
        b"/index.html%00.js",
    ],
)
def test_nothing_outside_the_dist_is_served(web: TestClient, raw: bytes) -> None:
    r = _raw(web, raw)
    assert r.status_code == 404 and "outside the dist" not in r.text and "landing" not in r.text, raw
