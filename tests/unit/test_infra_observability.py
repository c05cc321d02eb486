"""The observability manifests: the collector's pipelines, scraping, dashboards and alert rules.

Every PromQL expression (dashboard panels, alert rules) must parse as Prometheus parses it and may
name only metrics the code registers, with their labels and, where a label takes a closed set of
values, one of those values (tests.support.promql): a renamed metric or label fails here instead of
leaving an empty panel or an alert that never fires.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tests.support.promql import SERVICES, check_promql

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "k8s"
OBSERVABILITY = K8S / "observability"


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
        "rates(quarry_runs_ended_total[5m])",  # no such function
        "rate(quarry_runs_ended_total)",  # a range function given an instant vector
        "sum(rate(quarry_runs_ended_total[5m])) / on (tenant) sum(rate(quarry_runs_ended_total[5m]))",
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
        "QuarryConsumerOwing",
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
