"""The deployment manifests are valid Kubernetes objects and the NATS configuration is durable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from quarry_runtime.natsserver import server_binary

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
    for path in manifests():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Deployment":
                kinds[doc["metadata"]["name"]] = path.name
                container = doc["spec"]["template"]["spec"]["containers"][0]
                assert container["readinessProbe"]["httpGet"]["path"] == "/healthz", path
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", path
    assert sorted(kinds) == sorted(SERVICES)


def test_the_production_nats_configuration_fsyncs_every_write(tmp_path: Path) -> None:
    config = yaml.safe_load((K8S / "nats" / "configmap.yaml").read_text())["data"]["nats.conf"]
    assert "sync_interval: always" in config
    conf = tmp_path / "nats.conf"
    conf.write_text(config)
    result = subprocess.run(
        [server_binary(), "-c", str(conf), "-t"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "SERVER_NAME": "nats-0"},
    )
    assert result.returncode == 0 and "valid" in result.stdout + result.stderr, result.stdout + result.stderr
