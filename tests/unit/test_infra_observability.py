"""The observability manifests: the collector's pipelines, scraping, dashboards and alert rules.

Every PromQL expression (dashboard panels, alert rules) may name only metrics the code registers,
with their labels and, where a label takes a closed set of values, one of those values: a renamed
metric or label fails here instead of leaving an empty panel or an alert that never fires.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from fastapi import APIRouter
from prometheus_client.metrics import MetricWrapperBase
from starlette.routing import Route

from contracts import consumers
from contracts.tool import Decision

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "k8s"
OBSERVABILITY = K8S / "observability"
SERVICES = ("gateway", "orchestrator", "retriever", "analyst", "billing", "policy", "reporter")
METRIC_MODULES = ("quarry_runtime.metrics", "quarry_runtime.httpmetrics", "services.orchestrator.meters")
# Labels Prometheus adds to every series it scrapes (the PodMonitor's relabelling adds `app`).
TARGET_LABELS = {"job", "instance", "namespace", "pod", "container", "endpoint", "app"}
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
AGGREGATIONS = {"sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "group"}
KEYWORDS = AGGREGATIONS | {"by", "without", "on", "ignoring", "group_left", "group_right", "bool"}
KEYWORDS |= {"and", "or", "unless", "offset", "inf", "nan"}
TOKEN = re.compile(
    r"\s+|(?P<string>\"(?:[^\"\\]|\\.)*\")|(?P<duration>\[\d+[smhdwy]\])|(?P<number>\d+(?:\.\d+)?(?:e[+-]?\d+)?)"
    r"|(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)|(?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=(){},])"
)
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{((?:[^}\"]|\"(?:[^\"\\]|\\.)*\")*)\}")
MATCHER = re.compile(r"\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*\"((?:[^\"\\]|\\.)*)\"\s*,?")


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


def tokens(expr: str) -> Iterator[tuple[str, str]]:
    position = 0
    while position < len(expr):
        match = TOKEN.match(expr, position)
        assert match, f"cannot read {expr[position : position + 20]!r} in {expr!r}"
        position = match.end()
        if match.lastgroup:
            yield match.lastgroup, match.group()


def check_promql(expr: str) -> set[str]:
    """The metrics `expr` names, after checking its names, labels and closed label values."""
    depth = 0
    for kind, text in tokens(expr):
        depth += {"(": 1, ")": -1, "{": 1, "}": -1}.get(text, 0) if kind == "op" else 0
        assert depth >= 0, expr
    assert depth == 0, f"unbalanced brackets: {expr}"
    assert "$" not in expr, "no Grafana variables in queries: they would hide a metric name"
    names: set[str] = set()
    for series, matchers in SELECTOR.findall(expr):
        assert series in registered(), f"{series} is not a metric the code registers ({expr})"
        metric, labels = registered()[series]
        parsed = MATCHER.findall(matchers)
        assert "".join(m.group() for m in MATCHER.finditer(matchers)).strip() == matchers.strip(), matchers
        for label, operator, value in parsed:
            assert label in labels | TARGET_LABELS, f"{series} has no label {label} ({expr})"
            known = closed_values().get((metric, label))
            if known is not None and operator in ("=", "=~"):
                pattern = value if operator == "=~" else re.escape(value)
                for alternative in pattern.split("|") if operator == "=~" else [pattern]:
                    assert any(re.fullmatch(alternative, v) for v in known), f"{label}={value!r} never occurs ({expr})"
    bare = SELECTOR.sub(lambda m: m.group(1), expr)
    bare = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", bare)
    listed = list(tokens(bare))
    for i, (kind, text) in enumerate(listed):
        called = i + 1 < len(listed) and listed[i + 1][1] == "("
        if kind == "name" and text not in KEYWORDS and not called:
            assert text in registered(), f"{text} is not a metric the code registers ({expr})"
            names.add(text)
    for by_labels in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        grouped = {label.strip() for label in by_labels.split(",") if label.strip()}
        available = set().union(*(registered()[n][1] for n in names)) | TARGET_LABELS
        assert grouped <= available, f"grouping by {grouped - available} ({expr})"
    assert names, f"no metric in {expr}"
    return names


def test_the_promql_check_catches_a_renamed_metric_label_or_value() -> None:
    assert check_promql('sum by (state) (rate(quarry_runs_ended_total{state="failed"}[5m]))') == {
        "quarry_runs_ended_total"
    }
    for broken in (
        "sum(rate(quarry_runs_finished_total[5m]))",
        'sum(rate(quarry_runs_ended_total{status="failed"}[5m]))',
        'sum(rate(quarry_runs_ended_total{state="crashed"}[5m]))',
        "sum by (tenant) (rate(quarry_runs_ended_total[5m]))",
        "sum(rate(quarry_runs_ended_total[5m])",
        'quarry_consumer_lag_seconds{consumer=~"billing-nothing"}',
    ):
        with pytest.raises(AssertionError):
            check_promql(broken)


def collector_config() -> dict[str, Any]:
    config_map = next(d for d in docs("observability/otel-collector.yaml") if d["kind"] == "ConfigMap")
    config: dict[str, Any] = yaml.safe_load(config_map["data"]["config.yaml"])
    return config


def docs(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def test_the_collectors_pipelines_use_every_component_they_declare_and_only_those() -> None:
    config = collector_config()
    pipelines = config["service"]["pipelines"]
    assert "traces" in pipelines
    used: dict[str, set[str]] = {"receivers": set(), "processors": set(), "exporters": set()}
    for name, pipeline in pipelines.items():
        assert pipeline["receivers"] and pipeline["exporters"], name
        # The memory limiter first (it refuses data before anything holds it), batching last.
        assert pipeline["processors"][0] == "memory_limiter" and pipeline["processors"][-1] == "batch", name
        for section in used:
            for component in pipeline.get(section, []):
                assert component in config[section], f"{name} uses undeclared {section[:-1]} {component}"
                used[section].add(component)
    for section, names in used.items():
        assert set(config[section]) == names, f"{section} declared but in no pipeline: {set(config[section]) - names}"
    assert set(config["service"]["extensions"]) == set(config["extensions"])


def test_the_collector_listens_where_its_service_and_the_services_otel_variables_point() -> None:
    config = collector_config()
    objects = {d["kind"]: d for d in docs("observability/otel-collector.yaml")}
    container = objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    protocols = config["receivers"]["otlp"]["protocols"]
    assert int(protocols["grpc"]["endpoint"].rsplit(":", 1)[1]) == ports["otlp-grpc"]
    assert int(protocols["http"]["endpoint"].rsplit(":", 1)[1]) == ports["otlp-http"]
    assert int(config["extensions"]["health_check"]["endpoint"].rsplit(":", 1)[1]) == ports["health"]
    assert container["readinessProbe"]["httpGet"]["port"] == "health"
    reader = config["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]
    assert reader["port"] == ports["metrics"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert container["args"] == [f"--config={mount['mountPath']}/config.yaml"]
    service = objects["Service"]
    env = docs("configmap.yaml")[0]["data"]
    assert env["OTEL_TRACES_EXPORTER"] == "otlp" and env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert env["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio" and 0 < float(env["OTEL_TRACES_SAMPLER_ARG"]) <= 1
    host, port = re.fullmatch(r"http://([a-z-]+):(\d+)", env["OTEL_EXPORTER_OTLP_ENDPOINT"]).groups()  # type: ignore[union-attr]
    assert host == service["metadata"]["name"]
    assert {"port": int(port), "targetPort": "otlp-http"}.items() <= next(
        p for p in service["spec"]["ports"] if p["port"] == int(port)
    ).items()
    policy = next(p for p in docs("networkpolicies.yaml") if p["metadata"]["name"] == "otel-collector")
    senders = policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchExpressions"][1]["values"]
    assert sorted(senders) == sorted(SERVICES)


def test_prometheus_scrapes_every_service_on_its_named_metrics_port() -> None:
    monitor = docs("observability/podmonitor.yaml")[0]
    names = next(e for e in monitor["spec"]["selector"]["matchExpressions"] if e["key"] == "app.kubernetes.io/name")
    assert sorted(names["values"]) == sorted([*SERVICES, "otel-collector"])
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["path"] == "/metrics"
    for service in SERVICES:
        pod = next(d for d in docs(f"{service}.yaml") if d["kind"] == "Deployment")["spec"]["template"]
        ports = {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}
        assert ports[endpoint["port"]] == int(pod["metadata"]["annotations"]["prometheus.io/port"]), service


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((OBSERVABILITY / "dashboards").glob("*.json"))}


def test_the_dashboards_show_runs_bus_billing_policy_and_models_from_real_metrics() -> None:
    boards = dashboards()
    assert set(boards) == {"runs", "bus", "billing", "policy", "models"}
    assert len({b["uid"] for b in boards.values()}) == len(boards)
    generator = yaml.safe_load((OBSERVABILITY / "kustomization.yaml").read_text())["configMapGenerator"][0]
    assert sorted(generator["files"]) == sorted(f"dashboards/{name}.json" for name in boards)
    assert generator["options"]["labels"]["grafana_dashboard"] == "1"
    shown: set[str] = set()
    for name, board in boards.items():
        assert board["title"] and board["panels"], name
        assert [v["name"] for v in board["templating"]["list"]] == ["datasource"]
        for panel in board["panels"]:
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, (name, panel["title"])
            assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
            assert panel["targets"], (name, panel["title"])
            for target in panel["targets"]:
                shown |= check_promql(target["expr"])
    assert {"quarry_credits_total", "quarry_policy_decisions_total", "quarry_model_tokens_total"} <= shown


def alert_rules() -> dict[str, dict[str, Any]]:
    spec = docs("observability/alerts.yaml")[0]["spec"]
    return {rule["alert"]: rule for group in spec["groups"] for rule in group["rules"]}


def test_the_alert_rules_cover_dead_letters_lag_failures_and_the_admission_slo() -> None:
    rules = alert_rules()
    assert {
        "QuarryDeadLettersGrowing",
        "QuarryConsumerLagging",
        "QuarryRunFailureRate",
        "QuarryAdmissionLatencyBudgetBurn",
    } <= set(rules)
    for name, rule in rules.items():
        check_promql(rule["expr"])
        assert rule["labels"]["severity"] in {"page", "ticket"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
    assert "dead_lettered" in rules["QuarryDeadLettersGrowing"]["expr"]


def test_the_admission_slo_threshold_is_a_bucket_boundary_of_the_latency_histogram() -> None:
    from quarry_runtime.httpmetrics import HTTP_REQUEST_SECONDS

    for name in ("QuarryAdmissionLatencyBudgetBurn", "QuarryAdmissionLatencyBudgetBurnSlow"):
        expr = alert_rules()[name]["expr"]
        thresholds = set(re.findall(r'le="([^"]+)"', expr))
        # Anything between two boundaries would be interpolated, not counted.
        assert thresholds and {float(t) for t in thresholds} <= set(HTTP_REQUEST_SECONDS._upper_bounds), name
        assert 'route="/v1/runs"' in expr and 'method="POST"' in expr


def test_every_manifest_but_the_examples_is_applied_by_the_kustomizations() -> None:
    main = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert "observability" in main["resources"]
    listed = set(yaml.safe_load((OBSERVABILITY / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in OBSERVABILITY.glob("*.yaml") if p.name != "kustomization.yaml"}
    for entry in main["resources"]:
        assert (K8S / entry).exists(), entry
    manifests = {
        str(p.relative_to(K8S))
        for p in K8S.rglob("*.yaml")
        if p.name != "kustomization.yaml" and not p.name.endswith(".example.yaml") and OBSERVABILITY not in p.parents
    }
    assert manifests == set(main["resources"]) - {"observability"}
