"""The deployment manifests are valid Kubernetes objects and the NATS configuration is durable."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from devtools.natsserver import server_binary
from quarry_security import natsauth
from tests.support.certs import builder, common_name, write_key, write_pem

K8S = Path(__file__).resolve().parents[2] / "infra" / "k8s"
SERVICES = ("gateway", "orchestrator", "retriever", "analyst", "billing", "policy", "reporter")


def manifests() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


def test_every_manifest_validates_strictly_against_the_kubernetes_schema() -> None:
    tool = Path(sys.executable).parent / "kubernetes-validate"
    result = subprocess.run(
        [str(tool), "-k", "1.30.0", "--strict", *map(str, manifests())], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_one_deployment_per_service_with_health_probes() -> None:
    kinds: dict[str, str] = {}
    others: set[str] = set()
    for path in manifests():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Deployment":
                container = doc["spec"]["template"]["spec"]["containers"][0]
                if container["image"] != "quarry:latest":
                    others.add(doc["metadata"]["name"])
                    continue
                kinds[doc["metadata"]["name"]] = path.name
                # Readiness and liveness are separate verdicts (quarry_runtime/health.py).
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", path
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", path
    assert sorted(kinds) == sorted(SERVICES)
    assert others == {"otel-collector"}  # observability/, a third-party image with its own probes


def test_every_service_is_scraped_on_its_health_port_and_the_gateway_never_on_its_public_one() -> None:
    health_port = documents("configmap.yaml")[0]["data"]["QUARRY_HEALTH_PORT"]
    scraped = {}
    for name in SERVICES:
        deployment = next(d for d in documents(f"{name}.yaml") if d["kind"] == "Deployment")
        pod = deployment["spec"]["template"]
        container = pod["spec"]["containers"][0]
        assert {"configMapRef": {"name": "quarry-config"}} in container["envFrom"], name
        assert "QUARRY_HEALTH_PORT" not in {e["name"] for e in container.get("env", [])}, name
        annotations = pod["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true", name
        assert annotations["prometheus.io/path"] == "/metrics", name
        scraped[name] = annotations["prometheus.io/port"]
    assert set(scraped.values()) == {health_port}
    gateway = next(d for d in documents("gateway.yaml") if d["kind"] == "Deployment")
    ports = {p["name"]: p["containerPort"] for p in gateway["spec"]["template"]["spec"]["containers"][0]["ports"]}
    env = {e["name"]: e.get("value") for e in gateway["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert ports["metrics"] == int(health_port) != int(env["QUARRY_HTTP_PORT"]) == ports["http"]
    service = next(d for d in documents("gateway.yaml") if d["kind"] == "Service")
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    # Prometheus may reach the health port of the seven services, and nothing else of theirs.
    policies = {d["metadata"]["name"]: d["spec"] for d in documents("networkpolicies.yaml")}
    scrape = policies["quarry-metrics-scrape"]
    names = next(e for e in scrape["podSelector"]["matchExpressions"] if e["key"] == "app.kubernetes.io/name")
    assert sorted(names["values"]) == sorted(SERVICES)
    assert [p["port"] for rule in scrape["ingress"] for p in rule["ports"]] == [int(health_port)]


def nats_conf() -> str:
    conf: str = yaml.safe_load((K8S / "nats" / "configmap.yaml").read_text())["data"]["nats.conf"]
    return conf


def documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def write_certificates(directory: Path) -> None:
    """A CA and a server certificate signed by it, as the Secret `nats-tls` holds them."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = common_name("quarry-test-ca")
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        builder(name, name, key.public_key(), (now, now + datetime.timedelta(days=1)))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("nats")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    write_pem(directory / "ca.crt", cert)
    write_pem(directory / "tls.crt", cert)
    write_key(directory / "tls.key", key)


def test_the_production_nats_configuration_is_valid_and_fsyncs_every_write(tmp_path: Path) -> None:
    config = nats_conf()
    assert "sync_interval: always" in config
    write_certificates(tmp_path)
    conf = tmp_path / "nats.conf"
    conf.write_text(config.replace("/etc/nats-tls/", f"{tmp_path}/"))
    passwords = {f"QUARRY_NATS_PASSWORD_{user.upper()}": f"pw-{user}" for user in (*SERVICES, "ops", "operator")}
    result = subprocess.run(
        [server_binary(), "-c", str(conf), "-t"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "SERVER_NAME": "nats-0", **passwords},
    )
    assert result.returncode == 0 and "valid" in result.stdout + result.stderr, result.stdout + result.stderr


def test_the_production_nats_has_the_services_users_and_tls() -> None:
    config = nats_conf()
    expected = natsauth.authorization_block(
        {s: f"$QUARRY_NATS_PASSWORD_{s.upper()}" for s in (*SERVICES, natsauth.OPS)},
        admin=(natsauth.OPERATOR, "$QUARRY_NATS_PASSWORD_OPERATOR"),
    )
    assert expected in config, "nats/configmap.yaml's users differ from quarry_security.natsauth: paste them again"
    assert config.count("tls {") == 2 and "verify: true" in config  # clients, and mutual TLS routes
    nats = documents("nats/statefulset.yaml")[0]["spec"]["template"]["spec"]["containers"][0]
    secrets = {
        e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
        for e in nats["env"]
        if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]
    }
    assert secrets == {f"QUARRY_NATS_PASSWORD_{s.upper()}": f"quarry-nats-{s}" for s in (*SERVICES, "ops", "operator")}
    assert yaml.safe_load((K8S / "configmap.yaml").read_text())["data"]["NATS_URL"].startswith("tls://")


def test_each_service_connects_with_its_own_user_and_only_its_own_password() -> None:
    for service in SERVICES:
        container = documents(f"{service}.yaml")[0]["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        assert env["QUARRY_NATS_USER"]["value"] == service
        assert env["QUARRY_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == f"quarry-nats-{service}"
        others = {
            e["valueFrom"]["secretKeyRef"]["name"]
            for e in container["env"]
            if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]
        } - {"quarry-secrets", f"quarry-nats-{service}"}
        # The gateway alone also reads the operators' console's read-only user (its /v1/ops/ routes).
        assert others == ({"quarry-nats-ops"} if service == "gateway" else set()), (
            f"{service} reads another service's Secret: {others}"
        )
    gateway = documents("gateway.yaml")[0]["spec"]["template"]["spec"]["containers"][0]
    assert {e["name"]: e.get("value") for e in gateway["env"]}["QUARRY_OPS_NATS_USER"] == natsauth.OPS
    users = {d["metadata"]["name"] for d in documents("nats-users.example.yaml")}
    assert users == {f"quarry-nats-{s}" for s in (*SERVICES, "ops", "operator")}


def test_only_the_services_reach_nats_and_only_the_gateway_takes_ingress() -> None:
    policies = {d["metadata"]["name"]: d["spec"] for d in documents("networkpolicies.yaml")}
    assert policies["quarry-default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    open_to: dict[str, list[dict[str, Any]]] = {}
    for spec in policies.values():
        selected = spec["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name", "*")
        for rule in spec.get("ingress", []):
            open_to.setdefault(selected, []).append(rule)
    # Ingress from anywhere (a rule without `from`) only for the gateway.
    assert [name for name, rules in open_to.items() if any("from" not in r for r in rules)] == ["gateway"]
    client_rule = next(r for r in open_to["nats"] if r["ports"][0]["port"] == 4222)
    names = next(
        e for e in client_rule["from"][0]["podSelector"]["matchExpressions"] if e["key"] == "app.kubernetes.io/name"
    )
    assert sorted(names["values"]) == sorted([*SERVICES, "quarry-streams"])
    assert "networkpolicies.yaml" in (K8S / "kustomization.yaml").read_text()
