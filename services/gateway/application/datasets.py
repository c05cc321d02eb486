"""Dataset and upload rules the run, dataset and document routes share."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from contracts.billing import EntitlementsQuery
from contracts.document import TextContentType
from contracts.work import SourceKind
from services.gateway.entitlements import upload_problem
from services.gateway.errors import Unprocessable

if TYPE_CHECKING:
    from services.gateway.api.deps import Components


class DocumentCreate(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    content_type: TextContentType = "text/plain"
    content: str = Field(min_length=1, max_length=600_000)


async def within_upload_quota(parts: Components, tenant_id: str, size: int) -> None:
    """The plan's quota of documents (413 past its bytes, 403 past its number), before anything is stored."""
    _, documents, stored_bytes = await asyncio.to_thread(parts.store.datasets.usage, tenant_id)
    await parts.plan().check(EntitlementsQuery(tenant_id=tenant_id), upload_problem(documents, stored_bytes, size))


async def restrict_to_datasets(
    parts: Components, tenant_id: str, names: list[str] | None, sources: list[SourceKind] | None
) -> dict[str, Any]:
    """A run request's choice of datasets as run settings (their ids, and the sources they imply); 422 for
    a name the tenant has no dataset of, or sources that leave the datasets out."""
    if not names:
        return {}
    found = {name: await asyncio.to_thread(parts.store.datasets.find, tenant_id, name) for name in dict.fromkeys(names)}
    unknown = [name for name, dataset in found.items() if dataset is None]
    if unknown:
        raise Unprocessable(f"the tenant has no datasets named {unknown}")
    if sources is not None and "datasets" not in sources:
        raise Unprocessable("the run names datasets but its sources leave out 'datasets'")
    ids = [dataset["dataset_id"] for dataset in found.values() if dataset is not None]
    return {"datasets": ids, "sources": sources or ["datasets"]}
