"""Custom resources (KEDA, the Prometheus Operator) validate strictly, offline, like the core kinds.

kubernetes-validate knows only Kubernetes' own kinds: it warns about a custom resource and
passes it. So each custom kind the manifests use has a model here, written from its CRD's
published schema (keda.sh/v1alpha1 ScaledObject; monitoring.coreos.com/v1 PodMonitor and
PrometheusRule), with the fields the manifests use, spelt as the CRD spells them, and extra
fields forbidden: a misspelt field fails here as it would with `kubectl apply --validate=strict`.
A manifest that needs another field of the CRD adds it to its model.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field

K8S = Path(__file__).resolve().parents[2] / "infra" / "k8s"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Metadata(Strict):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=253)
    namespace: str | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


# keda.sh/v1alpha1 ScaledObject


class ScaleTargetRef(Strict):
    apiVersion: str | None = None
    kind: str | None = None
    name: str
    envSourceContainerName: str | None = None


class HPAScalingPolicy(Strict):
    type: Literal["Pods", "Percent"]
    value: int = Field(gt=0)
    periodSeconds: int = Field(gt=0, le=1800)


class HPAScalingRules(Strict):
    stabilizationWindowSeconds: int | None = Field(default=None, ge=0, le=3600)
    selectPolicy: Literal["Max", "Min", "Disabled"] | None = None
    policies: list[HPAScalingPolicy] | None = None


class HPABehavior(Strict):
    scaleUp: HPAScalingRules | None = None
    scaleDown: HPAScalingRules | None = None


class HorizontalPodAutoscalerConfig(Strict):
    name: str | None = None
    behavior: HPABehavior | None = None


class Advanced(Strict):
    horizontalPodAutoscalerConfig: HorizontalPodAutoscalerConfig | None = None
    restoreToOriginalReplicaCount: bool | None = None


class Fallback(Strict):
    failureThreshold: int = Field(ge=0)
    replicas: int = Field(ge=0)


class NatsJetStreamMetadata(Strict):
    """The nats-jetstream scaler's parameters: KEDA ignores one it does not know, so a typo here
    would silently scale on the defaults."""

    natsServerMonitoringEndpoint: str = Field(pattern=r"^[a-z0-9.-]+:\d+$")
    account: str
    stream: str
    consumer: str
    lagThreshold: str = Field(pattern=r"^[1-9]\d*$")
    activationLagThreshold: str | None = Field(default=None, pattern=r"^\d+$")
    useHttps: Literal["true", "false"] | None = None


class AuthenticationRef(Strict):
    name: str
    kind: Literal["TriggerAuthentication", "ClusterTriggerAuthentication"] | None = None


class Trigger(Strict):
    type: Literal["nats-jetstream"]  # the one scaler used; another needs its metadata model
    name: str | None = None
    metadata: NatsJetStreamMetadata
    authenticationRef: AuthenticationRef | None = None
    metricType: Literal["AverageValue", "Value", "Utilization"] | None = None
    useCachedMetrics: bool | None = None


class ScaledObjectSpec(Strict):
    scaleTargetRef: ScaleTargetRef
    pollingInterval: int | None = Field(default=None, gt=0)
    initialCooldownPeriod: int | None = Field(default=None, ge=0)
    cooldownPeriod: int | None = Field(default=None, ge=0)
    idleReplicaCount: int | None = Field(default=None, ge=0)
    minReplicaCount: int | None = Field(default=None, ge=0)
    maxReplicaCount: int | None = Field(default=None, gt=0)
    fallback: Fallback | None = None
    advanced: Advanced | None = None
    triggers: list[Trigger] = Field(min_length=1)


class ScaledObject(Strict):
    apiVersion: Literal["keda.sh/v1alpha1"]
    kind: Literal["ScaledObject"]
    metadata: Metadata
    spec: ScaledObjectSpec


# monitoring.coreos.com/v1 PodMonitor


class LabelSelectorRequirement(Strict):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = []


class LabelSelector(Strict):
    matchLabels: dict[str, str] = {}
    matchExpressions: list[LabelSelectorRequirement] = []


class RelabelConfig(Strict):
    sourceLabels: list[str] | None = None
    separator: str | None = None
    targetLabel: str | None = None
    regex: str | None = None
    modulus: int | None = None
    replacement: str | None = None
    action: (
        Literal["replace", "keep", "drop", "hashmod", "labelmap", "labeldrop", "labelkeep", "lowercase", "uppercase"]
        | None
    ) = None


DURATION = r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"


class PodMetricsEndpoint(Strict):
    port: str | None = None
    path: str | None = None
    scheme: Literal["http", "https"] | None = None
    interval: str | None = Field(default=None, pattern=DURATION)
    scrapeTimeout: str | None = Field(default=None, pattern=DURATION)
    honorLabels: bool | None = None
    relabelings: list[RelabelConfig] = []
    metricRelabelings: list[RelabelConfig] = []


class NamespaceSelector(Strict):
    any: bool | None = None
    matchNames: list[str] = []


class PodMonitorSpec(Strict):
    selector: LabelSelector
    namespaceSelector: NamespaceSelector | None = None
    podMetricsEndpoints: list[PodMetricsEndpoint] = Field(min_length=1)
    jobLabel: str | None = None
    podTargetLabels: list[str] = []
    sampleLimit: int | None = None


class PodMonitor(Strict):
    apiVersion: Literal["monitoring.coreos.com/v1"]
    kind: Literal["PodMonitor"]
    metadata: Metadata
    spec: PodMonitorSpec


# monitoring.coreos.com/v1 PrometheusRule


class Rule(Strict):
    alert: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    record: str | None = Field(default=None, pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
    expr: str = Field(min_length=1)
    for_: str | None = Field(default=None, alias="for", pattern=DURATION)
    keep_firing_for: str | None = Field(default=None, pattern=DURATION)
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}

    def model_post_init(self, context: Any) -> None:
        if (self.alert is None) == (self.record is None):
            raise ValueError("a rule is either an alert or a recording rule")


class RuleGroup(Strict):
    name: str = Field(min_length=1)
    interval: str | None = Field(default=None, pattern=DURATION)
    limit: int | None = None
    rules: list[Rule] = Field(min_length=1)


class PrometheusRuleSpec(Strict):
    groups: list[RuleGroup] = Field(min_length=1)


class PrometheusRule(Strict):
    apiVersion: Literal["monitoring.coreos.com/v1"]
    kind: Literal["PrometheusRule"]
    metadata: Metadata
    spec: PrometheusRuleSpec


MODELS: dict[str, type[Strict]] = {
    "ScaledObject": ScaledObject,
    "PodMonitor": PodMonitor,
    "PrometheusRule": PrometheusRule,
}


def custom_resources() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, doc)
        for path in sorted(K8S.rglob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc["kind"] in MODELS
    ]


def test_every_kind_kubernetes_validate_cannot_check_has_a_model_here() -> None:
    tool = Path(sys.executable).parent / "kubernetes-validate"
    paths = [str(p) for p in sorted(K8S.rglob("*.yaml")) if p.name != "kustomization.yaml"]
    result = subprocess.run([str(tool), "-k", "1.30.0", "--quiet", *paths], capture_output=True, text=True, timeout=300)
    unchecked = {
        line.split("Couldn't find schema for kind ")[1].split()[0]
        for line in result.stdout.splitlines()
        if "WARN" in line
    }
    assert unchecked == set(MODELS), result.stdout


@pytest.mark.parametrize(
    ("path", "doc"), custom_resources(), ids=lambda v: getattr(v, "name", "") or v["metadata"]["name"]
)
def test_each_custom_resource_matches_its_crd_schema(path: Path, doc: dict[str, Any]) -> None:
    MODELS[doc["kind"]].model_validate(doc)


def test_the_models_refuse_a_misspelt_field_and_a_missing_one() -> None:
    scaled = next(doc for _, doc in custom_resources() if doc["kind"] == "ScaledObject")
    misspelt = {**scaled, "spec": {**scaled["spec"], "maxReplicas": 3}}
    trigger = {**scaled["spec"]["triggers"][0]}
    trigger["metadata"] = {k: v for k, v in trigger["metadata"].items() if k != "lagThreshold"} | {"lagTreshold": "5"}
    typo_in_trigger = {**scaled, "spec": {**scaled["spec"], "triggers": [trigger]}}
    for bad in (misspelt, typo_in_trigger):
        with pytest.raises(ValueError):
            ScaledObject.model_validate(bad)
    rules = next(doc for _, doc in custom_resources() if doc["kind"] == "PrometheusRule")
    group = rules["spec"]["groups"][0]
    no_expr = {k: v for k, v in group["rules"][0].items() if k != "expr"}
    with pytest.raises(ValueError):
        PrometheusRule.model_validate({**rules, "spec": {"groups": [{**group, "rules": [no_expr]}]}})
