"""The image and the Kubernetes manifests in deploy/: valid against the Kubernetes schemas, with
the probes, termination, autoscaling, disruption budget and migration the operator relies on;
the dashboard and the alerts only use metrics the service exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import bff.app  # noqa: F401 (imports every module that defines a metric family)
from bff.cli import GRACEFUL_SHUTDOWN_S
from bff.config import Settings
from tests.test_settings_documented import variable_names

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSION = "1.32.0"


def manifests() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        documents.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return documents


def one(kind: str, name: str) -> dict[str, Any]:
    [found] = [m for m in manifests() if m["kind"] == kind and m["metadata"]["name"] == name]
    return found


@pytest.mark.parametrize(
    "manifest", manifests(), ids=lambda m: f"{m['kind']}/{m['metadata']['name']}"
)
def test_every_manifest_is_valid_against_the_kubernetes_schemas(manifest: dict[str, Any]) -> None:
    # strict: a misspelt or misplaced field is an error, not silently dropped
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_the_api_deployment_probes_drains_and_runs_locked_down() -> None:
    deployment = one("Deployment", "bff")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # the grace period outlasts the drain: the load balancer's delay, then the server's own
    drain = container["lifecycle"]["preStop"]["sleep"]["seconds"] + GRACEFUL_SHUTDOWN_S
    assert pod["terminationGracePeriodSeconds"] > drain
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # the one writable place, an emptyDir: BFF_DATA_DIR is under it
    assert {mount["mountPath"] for mount in container["volumeMounts"]} == {"/tmp"}  # noqa: S108


@pytest.mark.parametrize(
    "workload",
    [m for m in manifests() if m["kind"] in ("Deployment", "Job", "CronJob")],
    ids=lambda m: f"{m['kind']}/{m['metadata']['name']}",
)
def test_every_container_has_resource_requests_and_limits(workload: dict[str, Any]) -> None:
    spec = workload["spec"]
    template = (
        spec["jobTemplate"]["spec"]["template"] if "jobTemplate" in spec else spec["template"]
    )
    for container in template["spec"]["containers"]:
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][bound])


def test_the_autoscaler_keeps_2_to_10_pods_at_70_percent_cpu_with_300_s_cooldowns() -> None:
    hpa = one("HorizontalPodAutoscaler", "bff")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "bff"}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 10)
    [metric] = hpa["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    assert hpa["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 300
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300


def test_the_disruption_budget_and_the_service_select_the_api_pods() -> None:
    pod_labels = one("Deployment", "bff")["spec"]["template"]["metadata"]["labels"]
    budget = one("PodDisruptionBudget", "bff")["spec"]
    assert budget["minAvailable"] >= 1
    assert budget["selector"]["matchLabels"].items() <= pod_labels.items()
    service = one("Service", "bff")["spec"]
    assert service["selector"].items() <= pod_labels.items()
    assert {port["targetPort"] for port in service["ports"]} == {"http", "metrics"}


def test_the_migration_job_runs_before_the_rollout() -> None:
    job = one("Job", "bff-migrate")
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["migrate"]
    assert "pre-upgrade" in job["metadata"]["annotations"]["helm.sh/hook"]
    rollout = (DEPLOY / "rollout.sh").read_text()
    assert rollout.index("kubectl wait --for=condition=complete") < rollout.index(
        "kubectl rollout status deployment/bff"
    )


def test_backups_are_taken_every_four_hours() -> None:
    cron = one("CronJob", "bff-backup")["spec"]
    assert cron["schedule"] == "0 */4 * * *"
    assert cron["concurrencyPolicy"] == "Forbid"
    [container] = cron["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["backup"]


def test_the_configuration_names_only_settings_that_exist() -> None:
    known = {name for field in Settings.model_fields for name in variable_names(field)}
    config = one("ConfigMap", "bff-config")["data"]
    assert set(config) <= known
    # and their values are valid (with the secrets a real deployment adds)
    Settings.model_validate(
        {key.removeprefix("BFF_").lower(): value for key, value in config.items()}
        | {"jwt_keys": "{}", "redis_url": "redis://redis:6379/0"}
    )


def test_the_image_is_multi_stage_slim_non_root_and_built_from_the_lock() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert len(stages) == 2
    assert "slim" in re.search(r"ARG PYTHON_IMAGE=(\S+)", dockerfile).group(1)  # type: ignore[union-attr]
    assert "--require-hashes" in dockerfile
    assert "requirements/runtime.lock" in dockerfile
    assert re.search(r"^USER 10001", dockerfile, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK .*\n.*/healthz", dockerfile, re.MULTILINE)
    run_as = one("Deployment", "bff")["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    assert run_as == 10001


def exported_names() -> set[str]:
    """Every series name the service can export, by family type."""
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}
    return {
        family.name + suffix
        for family in text_string_to_metric_families(generate_latest(REGISTRY).decode())
        if family.name.startswith("bff_")
        for suffix in suffixes.get(family.type, [""])
    }


def used_names() -> dict[str, set[str]]:
    """The `bff_` series each alert rule and dashboard panel queries."""
    used: dict[str, set[str]] = {}
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            used[f"alert {rule['alert']}"] = set(re.findall(r"\bbff_[a-z0-9_]+", rule["expr"]))
    dashboard = json.loads((DEPLOY / "grafana" / "bff-dashboard.json").read_text())
    for panel in dashboard["panels"]:
        exprs = " ".join(target["expr"] for target in panel["targets"])
        used[f"panel {panel['title']}"] = set(re.findall(r"\bbff_[a-z0-9_]+", exprs))
    return used


def test_the_dashboard_and_alerts_use_only_metrics_that_exist() -> None:
    exported = exported_names()
    used = used_names()
    missing = {where: names - exported for where, names in used.items() if names - exported}
    assert not missing
    assert all(used.values()), "every panel and rule queries the service's metrics"


def test_the_alerts_cover_errors_latency_relay_and_replica_lag_and_pool_saturation() -> None:
    alerts = set(used_names())
    for wanted in ("ErrorRate", "LatencyP95", "RelayLag", "ReplicaLag", "PoolSaturated"):
        assert any(wanted in where for where in alerts if where.startswith("alert ")), wanted
