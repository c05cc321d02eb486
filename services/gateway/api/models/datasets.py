"""What the dataset routes answer."""

from __future__ import annotations

from pydantic import BaseModel, Field

from contracts.numbers import Count


class DatasetCreatedPublic(BaseModel):
    dataset_id: str
    name: str
    description: str


class DatasetPublic(DatasetCreatedPublic):
    created_at: str


class DatasetSummaryPublic(DatasetPublic):
    """A dataset and how many of its documents are at each ingestion status."""

    documents: Count
    by_status: dict[str, Count] = Field(description="documents by status: queued, indexing, indexed, rejected...")


class DatasetListPublic(BaseModel):
    datasets: list[DatasetSummaryPublic]
