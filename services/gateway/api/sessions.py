"""Browser sessions: the access token in an HttpOnly cookie, and the CSRF token bound to it.

A browser never holds the access token where script can read it: log-in with `"session":
"cookie"` puts it in `quarry_session` (HttpOnly). Because a browser sends that cookie on any
request to the origin, a request that changes something must also carry `X-CSRF-Token` equal to
the `quarry_csrf` cookie, which only script of this origin can read. That token is an HMAC of
the session's token id under a key derived from the JWT secret, so it is bound to one session:
a token planted from another session (a sibling subdomain setting cookies) does not verify.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.responses import Response

SESSION_COOKIE = "quarry_session"
CSRF_COOKIE = "quarry_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_REFUSED = "missing or wrong CSRF token"
MAX_COOKIE_CHARS = 4096  # a browser keeps no more in one cookie; anything longer is not ours


def csrf_token(jwt_secret: str, token_id: str) -> str:
    """The CSRF token of the session whose access token has id `token_id` (its jti)."""
    key = hmac.new(jwt_secret.encode(), b"quarry csrf v1", hashlib.sha256).digest()
    return hmac.new(key, token_id.encode(), hashlib.sha256).hexdigest()


def session_token(connection: HTTPConnection) -> str | None:
    """The access token the session cookie carries, if any (never an API key: those are not
    handed to browsers)."""
    token = connection.cookies.get(SESSION_COOKIE)
    if not token or len(token) > MAX_COOKIE_CHARS or token.startswith("qk_"):
        return None
    return token


def csrf_problem(connection: HTTPConnection, method: str, jwt_secret: str, token_id: str) -> str | None:
    """Why a cookie-authenticated request may not go on (None when it may): a method that changes
    something without the session's CSRF token in the header, or sent from another origin."""
    if method.upper() in SAFE_METHODS:
        return None
    origin = connection.headers.get("origin")
    if origin is not None and not same_origin(connection, origin):
        return "cross-origin request refused"
    sent = connection.headers.get(CSRF_HEADER, "")
    if not sent or not hmac.compare_digest(sent.encode(), csrf_token(jwt_secret, token_id).encode()):
        return CSRF_REFUSED
    return None


def same_origin(connection: HTTPConnection, origin: str) -> bool:
    """Whether `Origin` names the host the request was sent to (scheme aside: behind a TLS
    proxy the gateway itself sees plain HTTP)."""
    if origin == "null":
        return False
    host = connection.headers.get("host", "")
    return bool(host) and urlsplit(origin).netloc.lower() == host.lower()


def set_session_cookies(response: Response, token: str, csrf: str, max_age: int, secure: bool) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, path="/", httponly=True, samesite="lax", secure=secure)
    # Read by the app's script to send it back in the header: not HttpOnly, by design.
    response.set_cookie(CSRF_COOKIE, csrf, max_age=max_age, path="/", httponly=False, samesite="strict", secure=secure)


def clear_session_cookies(response: Response, secure: bool) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure)
    response.delete_cookie(CSRF_COOKIE, path="/", httponly=False, samesite="strict", secure=secure)
