"""Dockerfile, Compose file and Kubernetes manifests pass real validators."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from compose_pydantic import ComposeSpecification

from tests.ops.tools import ROOT, tool

K8S = ROOT / "k8s"
BUILT_IN = {"ConfigMap", "Deployment", "Service", "Job", "PodDisruptionBudget", "Secret"}
CUSTOM = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ("selector", "endpoints"),
    ("keda.sh/v1alpha1", "ScaledObject"): ("scaleTargetRef", "triggers", "maxReplicaCount"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"): ("secretTargetRef",),
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): ("topicName", "partitions", "replicas"),
    ("clickhouse.altinity.com/v1", "ClickHouseInstallation"): ("configuration",),
}
ENGAGE_COMMANDS = {"worker", "init-db", "notify", "generate", "produce", "backfill",
                   "recompute", "explain", "status", "review", "export-student", "schema"}


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)


def test_dockerfile_passes_hadolint() -> None:
    result = run(tool("hadolint"), "docker/Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_yaml_passes_yamllint() -> None:
    result = run(tool("yamllint"), "-c", ".yamllint.yaml", "k8s", "docker",
                 "dashboards/provisioning", "config")
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_matches_the_compose_specification() -> None:
    data = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    spec = {k: v for k, v in data.items() if not k.startswith("x-")}  # extension fields
    parsed = ComposeSpecification.model_validate(spec)
    services = data["services"]
    assert set(parsed.services or {}) == {"kafka", "clickhouse", "migrate", "worker", "notifier",
                                          "demo-producer", "prometheus", "grafana"}
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        if service.get("image") == "engagement-engine:local":
            assert service["command"][0] in ENGAGE_COMMANDS


def test_prometheus_config_is_valid() -> None:
    result = run(tool("promtool"), "check", "config", "docker/prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def render(overlay: Path) -> list[dict[str, Any]]:
    """The overlay as Kubernetes receives it: built by kustomize itself (inside kubectl)."""
    result = run(tool("kubectl"), "kustomize", str(overlay))
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_overlays_render_to_valid_resources(overlay: str, tmp_path: Path) -> None:
    resources = render(K8S / "overlays" / overlay)
    kinds = {r["kind"] for r in resources}
    assert {"Deployment", "Service", "PodDisruptionBudget", "ServiceMonitor", "ScaledObject",
            "KafkaTopic", "Job", "ConfigMap"} <= kinds
    validator = tool("kubernetes-validate")
    for index, resource in enumerate(resources):
        key = (resource["apiVersion"], resource["kind"])
        if resource["kind"] in BUILT_IN:
            path = tmp_path / f"{index}.yaml"
            path.write_text(yaml.safe_dump(resource))
            result = run(validator, "--strict", "-k", "1.31.0", str(path))
            assert result.returncode == 0, result.stdout + result.stderr
        else:
            assert key in CUSTOM, f"unexpected kind {key}"
            for required in CUSTOM[key]:
                assert required in resource["spec"], f"{key} lacks spec.{required}"
    worker = next(r for r in resources if r["kind"] == "Deployment"
                  and r["metadata"]["name"] == "engage-worker")
    scaler = next(r for r in resources if r["kind"] == "ScaledObject")
    topics = [r for r in resources if r["kind"] == "KafkaTopic"]
    partitions = min(t["spec"]["partitions"] for t in topics)
    assert worker["spec"]["replicas"] <= partitions
    assert scaler["spec"]["maxReplicaCount"] <= partitions
    assert len(topics) == 10
    authentications = {r["metadata"]["name"] for r in resources
                       if r["kind"] == "TriggerAuthentication"}
    for trigger in scaler["spec"]["triggers"]:
        if "authenticationRef" in trigger:
            assert trigger["authenticationRef"]["name"] in authentications


def test_the_kubernetes_tenant_file_is_the_shipped_one() -> None:
    assert (K8S / "base" / "tenants.example.yaml").read_text() == \
        (ROOT / "config" / "tenants.example.yaml").read_text()
