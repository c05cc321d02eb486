"""PromQL expressions of the dashboards and alert rules, checked against the metrics the code registers.

`promql_parser` (the Rust parser Prometheus-compatible databases use) reads each expression into
its syntax tree, so a query Prometheus would refuse (an unknown function, a wrong argument type,
unbalanced brackets) fails as it would there. The tree is then walked: every selector must name a
series the code exposes, with labels it has and, where the code fixes a label's values, one of
those; every grouping and vector matching may only use labels its operands carry.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any, get_args

import promql_parser as promql
from fastapi import APIRouter
from prometheus_client.metrics import MetricWrapperBase
from starlette.routing import Route

from contracts import consumers
from contracts.tool import Decision

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("gateway", "orchestrator", "retriever", "analyst", "billing", "policy", "reporter")
METRIC_MODULES = ("quarry_runtime.metrics", "quarry_runtime.httpmetrics", "services.orchestrator.meters")
# Labels Prometheus adds to every series it scrapes (the PodMonitor's relabelling adds `app`).
TARGET_LABELS = frozenset({"job", "instance", "namespace", "pod", "container", "endpoint", "app"})
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
# Functions whose result keeps the labels of their argument but adds none; `label_replace` and
# `label_join` add the label they name (their second argument).
ADDS_LABEL = frozenset({"label_replace", "label_join"})


@cache
def registered() -> dict[str, tuple[str, frozenset[str]]]:
    """Every series name the code exposes -> (its metric's name, its label names)."""
    modules = [*METRIC_MODULES, *(f"services.{p.parent.name}.meters" for p in ROOT.glob("services/*/meters.py"))]
    names: dict[str, tuple[str, frozenset[str]]] = {}
    for module in map(importlib.import_module, modules):
        for metric in vars(module).values():
            if isinstance(metric, MetricWrapperBase):
                # prometheus_client keeps the name, type and label names it was built with here.
                labels = frozenset(metric._labelnames)
                for suffix in SUFFIXES[str(metric._type)]:
                    extra = {"le"} if suffix == "_bucket" else set()
                    names[metric._name + suffix] = (metric._name, labels | extra)
    return names


@cache
def closed_values() -> dict[tuple[str, str], frozenset[str]]:
    """The values a label can take, for the labels whose values the code fixes."""
    from quarry_runtime.httpmetrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS, METHODS
    from quarry_runtime.metrics import (
        CONSUMER_HANDLING_SECONDS,
        CONSUMER_LAG_SECONDS,
        CONSUMER_MESSAGES,
        ConsumerMeters,
    )
    from services.billing.meters import ENTRIES
    from services.orchestrator.meters import ENDED

    # The outcomes a consumer's meters bind, read from a probe's series, which are removed again.
    ConsumerMeters.of("probe", "probe")
    outcomes = frozenset(
        s.labels["outcome"] for s in next(iter(CONSUMER_MESSAGES.collect())).samples if s.labels["service"] == "probe"
    )
    for outcome in outcomes:
        CONSUMER_MESSAGES.remove("probe", "probe", outcome)
    CONSUMER_HANDLING_SECONDS.remove("probe", "probe")
    CONSUMER_LAG_SECONDS.remove("probe", "probe")
    assert outcomes
    durables = frozenset(c.durable for cs in consumers.CONSUMERS.values() for c in cs)
    routes = frozenset(
        route.path
        for path in ROOT.glob("services/gateway/api/routes/*.py")
        for router in vars(importlib.import_module(f"services.gateway.api.routes.{path.stem}")).values()
        if isinstance(router, APIRouter)
        for route in router.routes
        if isinstance(route, Route)
    )
    http = (HTTP_REQUESTS._name, HTTP_REQUEST_SECONDS._name)
    values = {
        ("quarry_consumer_messages", "outcome"): outcomes,
        ("quarry_runs_ended", "state"): frozenset(ENDED.values()),
        ("quarry_run_duration_seconds", "state"): frozenset(ENDED.values()),
        ("quarry_credits", "entry"): frozenset(ENTRIES.values()),
        ("quarry_policy_decisions", "outcome"): frozenset(get_args(Decision)),
        ("quarry_model_tokens", "direction"): frozenset({"input", "output"}),
        ("quarry_model_request_duration_seconds", "outcome"): frozenset({"ok", "error"}),
    }
    for name in http:
        values[(name, "method")] = frozenset(METHODS)
        values[(name, "route")] = routes
    for name in ("quarry_consumer_messages", "quarry_consumer_handling_seconds", "quarry_consumer_lag_seconds"):
        values[(name, "service")] = frozenset(SERVICES)
        values[(name, "consumer")] = durables
    return values


def check_promql(expr: str) -> set[str]:
    """The series `expr` names, after checking its syntax, names, labels and closed label values."""
    assert "$" not in expr, "no Grafana variables in queries: they would hide a metric name"
    try:
        tree = promql.parse(expr)
    except ValueError as exc:
        raise AssertionError(f"Prometheus would refuse {expr!r}: {exc}") from exc
    names: set[str] = set()
    _labels_of(tree, expr, names)
    assert names, f"no metric in {expr}"
    return names


def _labels_of(node: Any, expr: str, names: set[str]) -> frozenset[str]:
    """The labels the series `node` yields may carry, checking `node` and what it holds."""
    if isinstance(node, promql.VectorSelector):
        return _selector(node, expr, names)
    if isinstance(node, promql.MatrixSelector):
        return _selector(node.vector_selector, expr, names)
    if isinstance(node, promql.SubqueryExpr | promql.ParenExpr | promql.UnaryExpr):
        return _labels_of(node.expr, expr, names)
    if isinstance(node, promql.NumberLiteral | promql.StringLiteral):
        return frozenset()
    if isinstance(node, promql.Call):
        carried = frozenset().union(*(_labels_of(arg, expr, names) for arg in node.args))
        if node.func.name in ADDS_LABEL:
            carried |= {node.args[1].val}
        return carried - {"__name__"}
    if isinstance(node, promql.AggregateExpr):
        inner = _labels_of(node.expr, expr, names)
        if node.param is not None:
            _labels_of(node.param, expr, names)
        grouped = frozenset(node.modifier.labels) if node.modifier is not None else frozenset()
        _within(grouped, inner, "grouping by", expr)
        if node.modifier is not None and node.modifier.type == promql.AggModifierType.Without:
            return inner - grouped
        return grouped
    if isinstance(node, promql.BinaryExpr):
        left, right = _labels_of(node.lhs, expr, names), _labels_of(node.rhs, expr, names)
        modifier = node.modifier
        if modifier is not None and modifier.matching is not None:
            _within(
                frozenset(modifier.matching.labels),
                left & right if left and right else left | right,
                "matching on",
                expr,
            )
        if modifier is not None and modifier.group_labels:
            _within(frozenset(modifier.group_labels), left | right, "group_left/right of", expr)
        return left | right
    raise AssertionError(f"{type(node).__name__} in {expr!r}: a node this check does not know")


def _selector(node: Any, expr: str, names: set[str]) -> frozenset[str]:
    series = node.name
    assert series in registered(), f"{series} is not a metric the code registers ({expr})"
    names.add(series)
    metric, labels = registered()[series]
    for matcher in _matchers(node.matchers):
        assert matcher.name in labels | TARGET_LABELS, f"{series} has no label {matcher.name} ({expr})"
        known = closed_values().get((metric, matcher.name))
        if known is None or matcher.op not in (promql.MatchOp.Equal, promql.MatchOp.Re):
            continue
        regex = matcher.op == promql.MatchOp.Re
        for alternative in matcher.value.split("|") if regex else [re.escape(matcher.value)]:
            assert any(re.fullmatch(alternative, v) for v in known), (
                f"{matcher.name}={matcher.value!r} never occurs ({expr})"
            )
    return labels | TARGET_LABELS


def _matchers(matchers: Any) -> Iterable[Any]:
    yield from matchers.matchers
    for alternatives in matchers.or_matchers:
        yield from alternatives


def _within(used: frozenset[str], available: frozenset[str], what: str, expr: str) -> None:
    assert used <= available, f"{what} {sorted(used - available)}: not a label there ({expr})"
