"""The analyst's metrics: model calls, their latency and tokens, by model.

The model label takes the names the service's configuration gives (its own model and those listed
in QUARRY_ANALYST_METRIC_MODELS); a tenant's own model counts under `other`, whatever it is called.
"""

from __future__ import annotations

from collections.abc import Iterable

from quarry_runtime.metrics import Bounded, counter, histogram

MODEL_TOKENS = counter("quarry_model_tokens", "Tokens a model read (input) and wrote (output)", ("model", "direction"))
MODEL_SECONDS = histogram(
    "quarry_model_request_duration_seconds",
    "One chat completion, retries included, by model and outcome",
    ("model", "outcome"),
)


class ModelMeter:
    """Times and counts the completions of the configured models."""

    def __init__(self, models: Iterable[str]) -> None:
        self._model = Bounded(models)

    def answered(self, model: str, seconds: float, tokens_in: int, tokens_out: int) -> None:
        name = self._model(model)
        MODEL_SECONDS.labels(name, "ok").observe(seconds)
        MODEL_TOKENS.labels(name, "input").inc(tokens_in)
        MODEL_TOKENS.labels(name, "output").inc(tokens_out)

    def failed(self, model: str, seconds: float) -> None:
        MODEL_SECONDS.labels(self._model(model), "error").observe(seconds)
