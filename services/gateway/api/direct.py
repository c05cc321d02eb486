"""A route served without FastAPI's per-request dependency solving, for the busiest write.

FastAPI resolves a route's dependency tree (the components, the bearer scheme, the principal,
the permission check) and validates and re-serialises the answer on every request, which costs
more CPU than `POST /v1/runs` does itself. `DirectRoute` keeps the route declared as usual, so its
OpenAPI operation, its permission (`requires(...)`) and its response model stay what they are,
and serves the common case itself by calling those same dependencies in FastAPI's order. Whatever
it does not serve itself (a body that is not valid JSON for the model, another content type)
goes to FastAPI's own handler, so every 4xx is the one FastAPI gives, in its own words.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.telemetry import get_telemetry_data
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.api.deps import DECLARED, Components, bearer, check_permission, components, current_principal
from services.gateway.security import Principal

Endpoint = Callable[[BaseModel, Principal, Components], Coroutine[Any, Any, BaseModel]]
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def is_json(content_type: str | None) -> bool:
    """`application/json`, with parameters or none: the one media type the direct path reads
    (FastAPI's handler takes the `+json` types and answers the others)."""
    if content_type is None:
        return False
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json"


class DirectRoute(APIRoute):
    """An `APIRoute` whose endpoint takes `(body, who, parts)`: the validated body model, the
    principal holding the route's one declared permission, and the components. The endpoint must
    return an instance of the route's response model."""

    def get_route_handler(self) -> Handler:
        standard = super().get_route_handler()
        body_model, permission = self._signature()
        endpoint: Endpoint = self.endpoint
        status_code = self.status_code or 200
        response_model = self.response_model
        assert isinstance(response_model, type) and issubclass(response_model, BaseModel), self.path
        serializer = response_model.__pydantic_serializer__

        async def handler(request: Request) -> Response:
            # Overridden dependencies (a test's) are FastAPI's to resolve.
            read = None if request.app.dependency_overrides else await _valid_body(request, body_model)
            if read is None:
                return await standard(request)
            decoded, body = read
            parts: Components = request.app.state.components
            # The dependencies' own functions, in FastAPI's order: the bearer scheme, the principal
            # (its errors are the route's), then the permission.
            who = check_permission(await current_principal(request, parts, await bearer(request)), permission)
            telemetry = get_telemetry_data()
            if telemetry is not None:
                telemetry.request, telemetry.body = request, decoded
                telemetry.values = {"body": body, "who": who, "parts": parts}
            answer = await endpoint(body, who, parts)
            assert isinstance(answer, response_model)
            return Response(serializer.to_json(answer, by_alias=True), status_code, media_type="application/json")

        return handler

    def _signature(self) -> tuple[type[BaseModel], str]:
        """The body model and the one permission the route declares (the OpenAPI document and the
        permission test read the same declaration)."""
        body = self.body_field.field_info.annotation if self.body_field is not None else None
        assert isinstance(body, type) and issubclass(body, BaseModel), f"{self.path}: a direct route takes a model"
        declared = [DECLARED[dep.call] for dep in self.dependant.dependencies if dep.call in DECLARED]
        assert len(declared) == 1, f"{self.path}: a direct route declares one permission"
        # The handler calls these dependencies itself: one it does not know would be skipped, so a
        # route that declares another (a rate limit, an audit trail) must not be served directly.
        unknown = {dep.call for dep in _flattened(self.dependant)} - {*DECLARED, *SERVED}
        if unknown:
            raise TypeError(f"{self.path}: a direct route cannot serve the dependencies {unknown}")
        return body, declared[0]


# The dependencies a direct route resolves itself, beside its permission check.
SERVED = frozenset({components, current_principal, bearer})


def _flattened(dependant: Dependant) -> list[Dependant]:
    found = []
    for dep in dependant.dependencies:
        found += [dep, *_flattened(dep)]
    return found


async def _valid_body(request: Request, model: type[BaseModel]) -> tuple[Any, BaseModel] | None:
    """The body decoded, and as `model`, validated as FastAPI validates it (JSON decoded, then the
    model from the decoded value); None when FastAPI's handler should answer instead. The bytes stay cached
    on the request, so that handler reads the same body."""
    if not is_json(request.headers.get("content-type")):
        return None
    try:
        raw = await request.body()
    except HTTPException:
        raise  # the body limits' 413, passed on as FastAPI passes it
    except Exception:  # noqa: BLE001 - a body that could not be read: FastAPI's handler says so (its 400)
        return None
    if not raw:
        return None
    try:
        decoded = json.loads(raw)
        return decoded, model.model_validate(decoded, from_attributes=True)
    except (ValueError, ValidationError):  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None
