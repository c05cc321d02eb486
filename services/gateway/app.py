"""The FastAPI application: routes, error mapping, and the bus started with the app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from starlette.types import Lifespan

from contracts.numbers import MAX_SAFE_INTEGER
from quarry_runtime.cancelling import cancel_and_wait
from quarry_runtime.errors import Unavailable as DependencyUnavailable
from quarry_runtime.exposition import ThreadServer, metrics_app
from quarry_runtime.httpmetrics import HttpMetrics
from services.gateway.api import errors
from services.gateway.api.deps import Components, session_principal
from services.gateway.api.limits import BodyLimits
from services.gateway.api.routes import (
    audit,
    auth,
    billing,
    costs,
    datasets,
    documents,
    health,
    inspect,
    keys,
    members,
    monitors,
    ops,
    ops_agents,
    ops_audit,
    ops_costs,
    ops_deadletters,
    ops_events,
    ops_health,
    ops_redrives,
    ops_replays,
    ops_rollouts,
    policy,
    questions,
    reports,
    run_log,
    runs,
    shares,
    templates,
    tenant,
    tenant_model,
)
from services.gateway.application import replay_jobs
from services.gateway.errors import Forbidden, Unauthorized
from services.gateway.settings import GatewaySettings
from services.gateway.web import SignedIn, WebApp

CATCHUP_STOP_S = 10.0
# The routers in the order the API reference lists them.
DOCUMENTED = (
    auth,
    runs,
    run_log,
    reports,
    inspect,
    costs,
    shares,
    questions,
    documents,
    datasets,
    monitors,
    templates,
    tenant,
    tenant_model,
    policy,
    billing,
    members,
    keys,
    audit,
    ops,
    ops_health,
    ops_events,
    ops_costs,
    ops_deadletters,
    ops_redrives,
    ops_replays,
    ops_audit,
    ops_agents,
    ops_rollouts,
    health,
)


def create_app(parts: Components) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await parts.bus.start()
        exposition = metrics_server(parts.settings)
        if exposition is not None:
            exposition.start()
        stop = asyncio.Event()
        catching_up = asyncio.create_task(parts.catchup.run(stop)) if parts.catchup is not None else None
        health = parts.ops_health
        beating = [] if health is None else [health.sampler.run, *([health.heartbeat.run] if health.heartbeat else [])]
        keeping = [asyncio.create_task(job()) for job in beating]
        try:
            yield
        finally:
            stop.set()
            if catching_up is not None:
                # A pass in the middle of a batch finishes it (its position is written after it),
                # unless that takes long: then it is cut, and the next start repeats that batch.
                await asyncio.wait({catching_up}, timeout=CATCHUP_STOP_S)
                await cancel_and_wait([catching_up])
            await cancel_and_wait(keeping)
            if health is not None and health.heartbeat is not None:
                await health.heartbeat.farewell()
            await replay_jobs.stop_all()  # before the store and the ops connection they use close
            if parts.ops_bus is not None:
                await parts.ops_bus.close()
            await parts.bus.stop()
            parts.store.db.close()
            if exposition is not None:
                await exposition.stop()

    async def signed_in(request: Request) -> bool:
        try:
            await session_principal(request, parts, "GET")
        except (Unauthorized, Forbidden):
            return False
        except DependencyUnavailable:
            # The store is away: the shell loads and its API calls answer 503 until it is back,
            # rather than a log-in page that could not log anyone in either.
            return True
        return True

    app = api_shell(lambda: parts.settings, signed_in, lifespan, http_metrics=True)
    app.state.components = parts
    # Every run admission looks its route up, and FastAPI tries an included router's routes one by
    # one: the runs first (no path of one router matches another's, so the order decides nothing
    # else). The API reference keeps the order of `DOCUMENTED`.
    for module in (runs, *(m for m in DOCUMENTED if m is not runs)):
        app.include_router(module.router)
    app.openapi = lambda: _bounded_openapi(app)  # type: ignore[method-assign]
    return app


def metrics_server(settings: GatewaySettings) -> ThreadServer | None:
    """`/metrics` on the health port; none when that is unset or is the API's own port (the
    public port never shows the service's metrics)."""
    if not settings.health_port or settings.health_port == settings.http_port:
        return None
    return ThreadServer(metrics_app(), settings.health_port, settings.health_host, name="metrics-http")


def api_shell(
    settings: Callable[[], GatewaySettings],
    signed_in: SignedIn,
    lifespan: Lifespan[FastAPI] | None = None,
    *,
    http_metrics: bool = False,
) -> FastAPI:
    """The gateway's app without its routes: the error handler and the middleware every request
    passes through (`bench.ping_app` serves its baseline from the same, without `http_metrics`)."""
    # /docs is the product's documentation (the web's): the API reference lives under /api/.
    app = FastAPI(
        title="Quarry",
        version="1.0",
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        swagger_ui_oauth2_redirect_url="/api/docs/oauth2-redirect",
        # A request's server span (and the trace the bus carries on) stays; FastAPI's spans around
        # each dependency, the endpoint and the serialisation cost more CPU than the whole
        # admission's own work and say nothing the server span does not.
        telemetry={"operation_spans": False},
    )
    errors.install(app)
    app.add_middleware(BodyLimits, settings=settings)
    if http_metrics:  # outside the body limits, so their 413s count; inside the web pages
        app.add_middleware(HttpMetrics)
    # Outermost: a web page never meets the API's body limits or routes.
    app.add_middleware(WebApp, root=lambda: settings().web_dist, signed_in=signed_in)
    return app


def _bounded_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with the one number it declares itself (the index in a 422's `loc`)
    bounded like every number of ours."""
    if app.openapi_schema is None:
        order = {id(module.router): i for i, module in enumerate(DOCUMENTED)}  # routers do not hash
        # FastAPI's own routes (the document, the docs page) first, as they are; the stable sort keeps them.
        routes = sorted(app.routes, key=lambda r: order.get(id(getattr(r, "original_router", None)), -1))
        document = get_openapi(title=app.title, version=app.version, routes=routes)
        loc = document.get("components", {}).get("schemas", {}).get("ValidationError", {})
        for choice in loc.get("properties", {}).get("loc", {}).get("items", {}).get("anyOf", []):
            if choice.get("type") == "integer":
                choice.update(minimum=0, maximum=MAX_SAFE_INTEGER)
        app.openapi_schema = document
    return app.openapi_schema
