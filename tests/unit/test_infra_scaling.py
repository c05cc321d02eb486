"""Availability and scaling manifests: budgets, autoscalers, the Ingress, and memory from the bench."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from contracts import consumers, subjects

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "k8s"
SERVICES = ("gateway", "orchestrator", "retriever", "analyst", "billing", "policy", "reporter")
LANES = {service: c for service, cs in consumers.CONSUMERS.items() for c in cs if c == consumers.lane(service)}
MIB = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}


def documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(K8S.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == kind:
                found[doc["metadata"]["name"]] = doc
    return found


def deployment(name: str) -> dict[str, Any]:
    return next(d for d in documents(f"{name}.yaml") if d["kind"] == "Deployment")


def pod_labels(name: str) -> dict[str, str]:
    labels: dict[str, str] = deployment(name)["spec"]["template"]["metadata"]["labels"]
    return labels


def test_every_service_has_a_disruption_budget_that_keeps_one_pod_up() -> None:
    budgets = of_kind("PodDisruptionBudget")
    for service in SERVICES:
        spec = budgets[service]["spec"]
        assert spec["selector"]["matchLabels"].items() <= pod_labels(service).items(), service
        assert spec["maxUnavailable"] == 1 and "minAvailable" not in spec, service
        # A crash-looping pod must not block a drain.
        assert spec["unhealthyPodEvictionPolicy"] == "AlwaysAllow", service
        floor = (
            deployment(service)["spec"].get("replicas")
            or of_kind("HorizontalPodAutoscaler").get(service, {}).get("spec", {}).get("minReplicas")
            or of_kind("ScaledObject")[service]["spec"]["minReplicaCount"]
        )
        # With one replica, a budget of one unavailable would let a drain take the service down.
        assert floor >= 2, service


def test_each_worker_lane_scales_on_the_backlog_of_its_own_durable_consumer() -> None:
    assert sorted(LANES) == ["analyst", "reporter", "retriever"]
    scaled = of_kind("ScaledObject")
    for service, lane in LANES.items():
        spec = scaled[service]["spec"]
        assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": service}
        triggers = {t["metadata"]["consumer"]: t["metadata"] for t in spec["triggers"]}
        assert lane.durable in triggers, service
        durables = {c.durable for c in consumers.CONSUMERS[service]}
        for metadata in triggers.values():
            # The service's own durable of the event stream: another's would scale on its backlog.
            assert metadata["consumer"] in durables, (service, metadata["consumer"])
            assert metadata["stream"] == subjects.STREAM
            assert metadata["account"] == "$G"  # nats.conf has users, no accounts
            assert metadata["natsServerMonitoringEndpoint"] == "nats-headless.quarry.svc.cluster.local:8222"
        assert 2 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
    assert "accounts" not in yaml.safe_load((K8S / "nats" / "configmap.yaml").read_text())["data"]["nats.conf"]


def test_keda_finds_the_consumer_leader_by_server_name_on_the_headless_service() -> None:
    # With no_advertise, KEDA asks <server_name>.<endpoint host>: server names must be pod names.
    nats = documents("nats/statefulset.yaml")[0]
    env = {e["name"]: e for e in nats["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SERVER_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert nats["spec"]["serviceName"] == "nats-headless"
    headless = next(s for s in documents("nats/services.yaml") if s["metadata"]["name"] == "nats-headless")
    assert 8222 in {p["port"] for p in headless["spec"]["ports"]}
    policy = next(p for p in documents("networkpolicies.yaml") if p["metadata"]["name"] == "nats-monitoring-keda")
    assert policy["spec"]["ingress"] == [
        {
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}}],
            "ports": [{"protocol": "TCP", "port": 8222}],
        }
    ]


def test_the_gateway_scales_on_cpu_from_two_replicas() -> None:
    hpa = of_kind("HorizontalPodAutoscaler")["gateway"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gateway"}
    assert hpa["minReplicas"] == 2 < hpa["maxReplicas"]
    assert [m["resource"]["name"] for m in hpa["metrics"]] == ["cpu"]
    container = deployment("gateway")["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["requests"]["cpu"]  # utilisation is a share of the request


def test_an_autoscaled_deployment_leaves_its_replica_count_to_the_autoscaler() -> None:
    autoscaled = set(of_kind("HorizontalPodAutoscaler")) | set(of_kind("ScaledObject"))
    assert autoscaled == {"gateway", *LANES}
    for service in SERVICES:
        # A `replicas` in the manifest would reset the count on every apply.
        assert ("replicas" in deployment(service)["spec"]) == (service not in autoscaled), service


def test_the_gateway_is_exposed_over_tls_only_through_its_service() -> None:
    ingress = of_kind("Ingress")
    assert list(ingress) == ["gateway"]
    spec = ingress["gateway"]["spec"]
    tls_hosts = {h for t in spec["tls"] for h in t["hosts"]}
    assert all(t["secretName"] for t in spec["tls"])
    service = next(d for d in documents("gateway.yaml") if d["kind"] == "Service")
    for rule in spec["rules"]:
        assert rule["host"] in tls_hosts
        for path in rule["http"]["paths"]:
            assert path["backend"]["service"]["name"] == service["metadata"]["name"]
            assert path["backend"]["service"]["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    annotations = ingress["gateway"]["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"  # SSE


def bench_peak_rss_mib() -> dict[str, float]:
    """Peak RSS per process at 200 concurrent runs, from the README's table of `make bench scale`."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("| process | peak RSS MiB at 200 runs", 1)[1].split("\n\n", 1)[0]
    peaks = {}
    for row in re.finditer(r"^\| ([a-z-]+) \| (\d+) \(", table, re.MULTILINE):
        peaks[row[1]] = float(row[2])
    return peaks


def mib(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+)([KMG]i)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * MIB[unit]


def test_memory_requests_and_limits_follow_the_benchs_peak_rss() -> None:
    peaks = bench_peak_rss_mib()
    assert set(SERVICES) | {"nats-server"} <= set(peaks), peaks
    containers = {s: deployment(s)["spec"]["template"]["spec"]["containers"][0] for s in SERVICES}
    containers["nats-server"] = documents("nats/statefulset.yaml")[0]["spec"]["template"]["spec"]["containers"][0]
    for name, container in containers.items():
        request = mib(container["resources"]["requests"]["memory"])
        limit = mib(container["resources"]["limits"]["memory"])
        peak = peaks[name]
        # Headroom over the peak for a request, twice it for a limit; and a request that tracks the
        # bench rather than a guess (at most the 1.5x rounded up to the next 32 MiB, NATS aside:
        # its production settings fsync every write and keep three replicas, which the bench does not).
        assert request >= 1.5 * peak and limit >= 2 * peak, (name, request, limit, peak)
        if name != "nats-server":
            assert request <= math.ceil(1.5 * peak / 32) * 32, (name, request, peak)
