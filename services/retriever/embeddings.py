"""Dense text embeddings for hybrid search: one interface, an OpenAI-compatible client, optional fastembed.

Nothing here is needed by default: without an embedder the index is sparse (BM25) only, and no
model is downloaded or asked for. With one, every chunk also gets a dense vector and a search fuses
both rankings (see `services.retriever.index`).
"""

from __future__ import annotations

import importlib
import importlib.util
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx

from quarry_runtime.http import HttpFailure, RetryPolicy, send_with_retries_sync
from services.retriever.domain.errors import RetrieverError


class EmbeddingError(RetrieverError):
    """The embedding model could not be asked, or answered something unusable."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Embedder(Protocol):
    """Turns texts into fixed-size vectors; documents and queries may be embedded differently."""

    @property
    def name(self) -> str:
        """The model, as it should name a collection built with it."""
        ...

    @property
    def dimension(self) -> int: ...

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


class OpenAIEmbeddings:
    """POSTs to `{base_url}/embeddings` (OpenAI, vLLM, Ollama, llama.cpp, LiteLLM, TEI).

    Synchronous, because the index calls it from worker threads. 429, 5xx and connection failures
    are retried with exponential backoff; anything else fails at once with the server's reason.
    """

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        api_key: str | None = None,
        dimension: int | None = None,
        timeout_s: float = 30.0,
        batch_size: int = 64,
        attempts: int = 4,
        base_delay_s: float = 0.25,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"the embeddings URL must be http(s), got {base_url!r}")
        if batch_size < 1 or attempts < 1:
            raise ValueError("batch_size and attempts must be positive")
        self.url = base_url.rstrip("/") + "/embeddings"
        self.model = model
        self.batch_size = batch_size
        self.attempts = attempts
        self.base_delay_s = base_delay_s
        self._sleep = sleep
        self._dimension = dimension
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(timeout=httpx.Timeout(timeout_s), headers=headers, transport=transport)

    @property
    def name(self) -> str:
        return self.model

    @property
    def dimension(self) -> int:
        """Given at construction, else learnt from one probe request."""
        if self._dimension is None:
            self._dimension = len(self._request(["dimension probe"])[0])
        return self._dimension

    def close(self) -> None:
        self._http.close()

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            vectors.extend(self._request(list(texts[start : start + self.batch_size])))
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self._request([text])[0]

    def _request(self, texts: list[str]) -> list[list[float]]:
        body = {"model": self.model, "input": texts, "encoding_format": "float"}
        try:
            response = send_with_retries_sync(
                lambda: self._http.post(self.url, json=body),
                name="embeddings endpoint",
                policy=RetryPolicy(attempts=self.attempts, base_delay_s=self.base_delay_s),
                sleep=self._sleep,
            )
        except HttpFailure as exc:
            raise EmbeddingError(str(exc), status=exc.status) from exc
        return self._vectors(response, len(texts))

    def _vectors(self, response: httpx.Response, expected: int) -> list[list[float]]:
        try:
            data = response.json()["data"]
            ordered = sorted(data, key=lambda item: int(item["index"]))
            vectors = [[float(x) for x in item["embedding"]] for item in ordered]
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingError(f"malformed embeddings response: {exc}") from exc
        if len(vectors) != expected:
            raise EmbeddingError(f"asked {expected} embeddings, got {len(vectors)}")
        sizes = {len(v) for v in vectors}
        if len(sizes) != 1 or (self._dimension is not None and sizes != {self._dimension}):
            raise EmbeddingError(f"embeddings of unexpected size {sorted(sizes)} (want {self._dimension})")
        return vectors


FASTEMBED_DEFAULT_MODEL = "BAAI/bge-small-en-v1.5"


class FastEmbedEmbeddings:
    """fastembed (ONNX, CPU) with a model already on disk: it is never downloaded here."""

    def __init__(self, model: Any, name: str) -> None:
        self._model = model
        self._name = name
        self._dimension = len(self.embed_query("dimension probe"))

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [[float(x) for x in v] for v in self._model.passage_embed(list(texts))]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in next(iter(self._model.query_embed([text])))]


def load_fastembed(model: str = FASTEMBED_DEFAULT_MODEL, cache_dir: Path | None = None) -> FastEmbedEmbeddings | str:
    """The fastembed embedder, or why it is unavailable ("not installed", "model not present")."""
    if importlib.util.find_spec("fastembed") is None:
        return "not installed (pip install fastembed, with the model in its cache)"
    fastembed = importlib.import_module("fastembed")
    try:
        loaded = fastembed.TextEmbedding(
            model_name=model, cache_dir=str(cache_dir) if cache_dir else None, local_files_only=True
        )
    except Exception as exc:  # noqa: BLE001 - any failure to load offline means "not available", with the reason
        return f"model {model} not present offline: {type(exc).__name__}: {str(exc)[:160]}"
    return FastEmbedEmbeddings(loaded, model)


EmbeddingsKind = Literal["none", "openai", "fastembed"]


def build_embedder(
    kind: EmbeddingsKind,
    *,
    url: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
    cache_dir: Path | None = None,
) -> Embedder | None:
    """The embedder the settings ask for; None for "none". A ValueError says what is missing."""
    if kind == "none":
        return None
    if kind == "openai":
        if not url or not model:
            raise ValueError("QUARRY_EMBEDDINGS=openai needs QUARRY_EMBEDDINGS_URL and QUARRY_EMBEDDINGS_MODEL")
        return OpenAIEmbeddings(url, model=model, api_key=api_key)
    loaded = load_fastembed(model or FASTEMBED_DEFAULT_MODEL, cache_dir)
    if isinstance(loaded, str):
        raise ValueError(f"QUARRY_EMBEDDINGS=fastembed: fastembed is {loaded}")
    return loaded
