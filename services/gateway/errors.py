"""The gateway's errors: one base, `GatewayError`, each kind carrying the HTTP status that
`api.errors.install` answers it with. Domain code raises these (or subclasses of them), so no route
translates an error by hand."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


class GatewayError(Exception):
    status_code = 400

    def __init__(self, detail: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after_s = retry_after_s  # sent as Retry-After (whole seconds, at least 1)


class BadRequest(GatewayError):
    status_code = 400


class Unauthorized(GatewayError):
    status_code = 401


class Forbidden(GatewayError):
    status_code = 403


class NotFound(GatewayError):
    status_code = 404


class Conflict(GatewayError):
    status_code = 409


class Unprocessable(GatewayError):
    status_code = 422


class TooManyRequests(GatewayError):
    status_code = 429


class TooLarge(GatewayError):
    status_code = 413


class UnsupportedMedia(GatewayError):
    status_code = 415


class Unavailable(GatewayError):
    status_code = 503


def available(found: T | None, reason: str) -> T:
    """`found` (a part this gateway may run without, an answer a peer may leave out), or a 503 for `reason`."""
    if found is None:
        raise Unavailable(reason)
    return found
