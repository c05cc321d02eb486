"""The FastAPI application: routes, error mapping, and the bus started with the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.gateway.api import errors
from services.gateway.api.deps import Components
from services.gateway.api.limits import BodyLimits
from services.gateway.api.routes import (
    audit,
    auth,
    billing,
    datasets,
    documents,
    health,
    keys,
    members,
    monitors,
    policy,
    questions,
    runs,
    templates,
    tenant,
    tenant_model,
)


def create_app(parts: Components) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await parts.bus.start()
        try:
            yield
        finally:
            await parts.bus.stop()
            parts.store.db.close()

    app = FastAPI(title="Quarry", version="1.0", lifespan=lifespan)
    app.state.components = parts
    errors.install(app)
    app.add_middleware(BodyLimits, settings=lambda: parts.settings)
    for module in (
        auth,
        runs,
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
        health,
    ):
        app.include_router(module.router)
    return app
