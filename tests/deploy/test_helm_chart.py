"""deploy/helm/lifecycle-engine: rendered with the pinned Helm for both value sets, linted,
every object validated offline against the Kubernetes API schema (kubernetes-validate
bundles the schemas: no network at test time), and checked against the engine itself (CLI
commands, variables, probe routes, ports, roles, sizing)."""

from __future__ import annotations

import copy
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from core.config import load_config
from core.settings import REPO_ROOT, Settings
from core.temporal import load_profile
from tests.factories.tools import tool
from tests.lifecycle.test_docker_compose import check_cli_words, resolve_cli
from workers.tuning import WorkerTuning

CHART = REPO_ROOT / "deploy/helm/lifecycle-engine"
VALUE_SETS = ("values-temporal-cloud.yaml", "values-self-hosted.yaml")
MIN_KUBE, LATEST_KUBE = "1.29.0", kubernetes_validate.latest_version()
# What the Temporal SDK's environment configuration reads (core/temporal.py), besides
# the variables Settings reads.
TEMPORAL_ENVCONFIG = re.compile(
    r"TEMPORAL_(ADDRESS|NAMESPACE|API_KEY|PROFILE|CONFIG_FILE|TLS"
    r"|TLS_(SERVER_NAME|CLIENT_CERT_PATH|CLIENT_KEY_PATH|SERVER_CA_CERT_PATH"
    r"|DISABLE_HOST_VERIFICATION)|GRPC_META_[A-Z0-9_]+)"
)
Obj = dict[str, Any]


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tool("helm")), *args], capture_output=True, text=True, timeout=120, check=False
    )


@cache
def render(values: str, *extra: str) -> tuple[Obj, ...]:
    result = helm(
        "template", "lc", str(CHART), "-f", str(CHART / values), "--kube-version", MIN_KUBE, *extra
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def find(objects: tuple[Obj, ...], kind: str, component: str | None = None) -> list[Obj]:
    return [
        o
        for o in objects
        if o["kind"] == kind
        and (
            component is None
            or o["metadata"]["labels"].get("app.kubernetes.io/component") == component
        )
    ]


def one(objects: tuple[Obj, ...], kind: str, component: str) -> Obj:
    (found,) = find(objects, kind, component)
    return found


def pod_spec(obj: Obj) -> Obj:
    spec: Obj = obj["spec"]["template"]["spec"]
    return spec


def container(obj: Obj) -> Obj:
    (only,) = pod_spec(obj)["containers"]
    return only


def env_of(obj: Obj) -> dict[str, Obj]:
    return {item["name"]: item for item in container(obj).get("env", [])}


# ---- helm lint and the Kubernetes schema -------------------------------------------------


@pytest.mark.parametrize("values", VALUE_SETS)
def test_the_chart_lints(values: str) -> None:
    result = helm(
        "lint", "--strict", str(CHART), "-f", str(CHART / values), "--kube-version", MIN_KUBE
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("kube", [MIN_KUBE, LATEST_KUBE])
@pytest.mark.parametrize("values", VALUE_SETS)
def test_every_object_validates_against_the_kubernetes_schema(values: str, kube: str) -> None:
    objects = render(values)
    kinds = {o["kind"] for o in objects}
    assert kinds >= {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Job",
        "ConfigMap",
    }
    for obj in objects:
        kubernetes_validate.validate(obj, kube, strict=True)


# A trial without a secret store: the chart makes the Secrets (the migration's as a hook
# that exists before the migration runs); mTLS to Cloud instead of an API key.
TRIAL = (
    "--set",
    "secrets.create=true,secrets.values.DATABASE_URL=postgresql+asyncpg://a:b@db/lifecycle",
    "--set",
    "secrets.migrateValues.LIFECYCLE_MIGRATE_DATABASE_URL=postgresql+asyncpg://o:p@db/lifecycle",
    "--set",
    "temporal.apiKey=false,temporal.tls.clientCertSecret=client-cert",
)


@pytest.mark.parametrize("kube", [MIN_KUBE, LATEST_KUBE])
def test_the_trial_variant_validates_and_makes_its_secrets_first(kube: str) -> None:
    objects = render(VALUE_SETS[0], *TRIAL)
    for obj in objects:
        kubernetes_validate.validate(obj, kube, strict=True)
    secrets = {o["metadata"]["name"]: o for o in find(objects, "Secret")}
    migrate = one(objects, "Job", "migrate")
    ref = env_of(migrate)["LIFECYCLE_MIGRATE_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    hook = secrets[ref["name"]]["metadata"]["annotations"]
    assert hook["helm.sh/hook"] == migrate["metadata"]["annotations"]["helm.sh/hook"]
    assert int(hook["helm.sh/hook-weight"]) < int(
        migrate["metadata"]["annotations"]["helm.sh/hook-weight"]
    )
    assert ref["key"] in secrets[ref["name"]]["stringData"]
    worker = one(objects, "Deployment", "worker")
    assert "TEMPORAL_API_KEY" not in env_of(worker)
    assert env_of(worker)["TEMPORAL_TLS_CLIENT_CERT_PATH"]["value"] == "/etc/temporal/tls/tls.crt"


def _unknown_field(obj: Obj) -> None:
    container(obj)["livenessProbes"] = container(obj).pop("livenessProbe")


def _wrong_type(obj: Obj) -> None:
    container(obj)["ports"][0]["containerPort"] = "eight thousand"


def _missing_required(obj: Obj) -> None:
    del obj["spec"]["selector"]


@pytest.mark.parametrize("break_it", [_unknown_field, _wrong_type, _missing_required])
def test_the_schema_check_rejects_a_broken_object(break_it: Any) -> None:
    deployment = copy.deepcopy(one(render(VALUE_SETS[0]), "Deployment", "api"))
    break_it(deployment)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, MIN_KUBE, strict=True)


def test_rendering_without_secrets_or_an_address_says_what_is_missing() -> None:
    result = helm("template", "lc", str(CHART), "--kube-version", MIN_KUBE)
    assert result.returncode != 0 and "temporal.address" in result.stderr
    result = helm(
        "template", "lc", str(CHART), "--kube-version", MIN_KUBE, "--set", "temporal.address=t:7233"
    )
    assert result.returncode != 0 and "secrets.existingSecret" in result.stderr


# ---- consistency with the engine ---------------------------------------------------------


@pytest.mark.parametrize("values", VALUE_SETS)
def test_containers_run_real_cli_commands(values: str) -> None:
    ran = set()
    for obj in find(render(values), "Deployment") + find(render(values), "Job"):
        words = container(obj)["command"]
        check_cli_words(words)
        ran.add(resolve_cli(words)[1].split(" ", 1)[1])
    assert ran == {"api", "worker", "migrate", "temporal setup"}


@pytest.mark.parametrize("values", VALUE_SETS)
def test_containers_set_only_variables_the_engine_or_the_sdk_reads(values: str) -> None:
    read = {name.upper() for name in Settings.model_fields}
    for obj in find(render(values), "Deployment") + find(render(values), "Job"):
        unknown = {n for n in env_of(obj) if n not in read and not TEMPORAL_ENVCONFIG.fullmatch(n)}
        assert not unknown, f"{obj['metadata']['name']} sets {sorted(unknown)}"


@pytest.mark.parametrize("values", VALUE_SETS)
def test_only_the_migration_holds_the_owner_credentials(values: str) -> None:
    objects = render(values)
    migrate = one(objects, "Job", "migrate")
    assert migrate["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    env = env_of(migrate)
    assert "valueFrom" in env["LIFECYCLE_MIGRATE_DATABASE_URL"]
    assert env["LIFECYCLE_DATABASE_APP_ROLE"]["value"] == "lifecycle_app"
    assert "DATABASE_URL" not in env
    migrate_secret = env["LIFECYCLE_MIGRATE_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"]
    for obj in find(objects, "Deployment") + find(objects, "Job", "temporal-setup"):
        env = env_of(obj)
        assert "LIFECYCLE_MIGRATE_DATABASE_URL" not in env
        refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in env.values() if "valueFrom" in e}
        assert migrate_secret not in refs, f"{obj['metadata']['name']} reads the owner's Secret"
        assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["optional"] is False


def test_the_api_probes_routes_it_serves_on_its_port() -> None:
    from api.app import create_app

    api = one(render(VALUE_SETS[0]), "Deployment", "api")
    words = container(api)["command"]
    port = int(words[words.index("--port") + 1])
    (declared,) = container(api)["ports"]
    assert (declared["name"], declared["containerPort"]) == ("http", port)
    paths = create_app(Settings(lifecycle_app_api_keys="k", lifecycle_admin_api_keys="k")).openapi()
    probes = {kind: container(api)[kind]["httpGet"] for kind in ("livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["readinessProbe"]["path"] == "/readyz"
    for probe in probes.values():
        assert probe["path"] in paths["paths"] and probe["port"] == "http"


def test_the_worker_probes_its_metrics_port() -> None:
    worker = one(render(VALUE_SETS[0]), "Deployment", "worker")
    env = env_of(worker)
    port = int(env["LIFECYCLE_WORKER_METRICS_ADDRESS"]["value"].rsplit(":", 1)[1])
    ports = {p["name"]: p["containerPort"] for p in container(worker)["ports"]}
    assert ports["metrics"] == port
    assert container(worker)["livenessProbe"]["httpGet"]["port"] == "metrics"


def test_worker_memory_fits_the_measured_cache() -> None:
    """README "Sizing workers": ~190 MiB per process plus ~100 KiB per cached workflow."""
    worker = one(render(VALUE_SETS[0]), "Deployment", "worker")
    cached = int(env_of(worker)["LIFECYCLE_WORKER_CACHED_WORKFLOWS"]["value"])
    assert cached == WorkerTuning().max_cached_workflows
    need_mib = 190 + cached * 100 / 1024
    units = {"Mi": 1, "Gi": 1024}
    for bound in ("requests", "limits"):
        quantity = container(worker)["resources"][bound]["memory"]
        number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
        assert int(number) * units[unit] >= need_mib, f"{bound}.memory {quantity} < {need_mib} MiB"
    assert "cpu" not in container(worker)["resources"].get("limits", {}), "a CPU limit throttles"


@pytest.mark.parametrize("values", VALUE_SETS)
def test_scaling_objects_target_the_deployments(values: str) -> None:
    objects = render(values)
    for component in ("api", "worker"):
        deployment = one(objects, "Deployment", component)
        hpa = one(objects, "HorizontalPodAutoscaler", component)
        pdb = one(objects, "PodDisruptionBudget", component)
        assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        for selector in (pdb["spec"]["selector"], deployment["spec"]["selector"]):
            assert selector["matchLabels"].items() <= labels.items()
        # A budget the smallest scale cannot meet would block every node drain.
        assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]


def test_the_config_map_holds_a_config_the_engine_loads(tmp_path: Path) -> None:
    objects = render(VALUE_SETS[0])
    (config_map,) = find(objects, "ConfigMap")
    path = tmp_path / "lifecycle.toml"
    path.write_text(config_map["data"]["lifecycle.toml"])
    load_config(path)
    for obj in find(objects, "Deployment"):
        assert env_of(obj)["LIFECYCLE_CONFIG"]["value"] == "/etc/lifecycle/lifecycle.toml"
        mounts = {m["name"]: m["mountPath"] for m in container(obj)["volumeMounts"]}
        volumes = {v["name"]: v for v in pod_spec(obj)["volumes"]}
        assert mounts["config"] == "/etc/lifecycle"
        assert volumes["config"]["configMap"]["name"] == config_map["metadata"]["name"]


# ---- the Temporal connection each value set configures ------------------------------------


def _environ(obj: Obj, secrets: dict[str, str], mounted: dict[str, Path]) -> dict[str, str]:
    """The container's environment as the process sees it: Secret keys filled in, mount
    paths moved to local folders holding the same files."""
    environ = {}
    for name, item in env_of(obj).items():
        value = item.get("value") or secrets.get(name, "")
        for prefix, local in mounted.items():
            value = value.replace(prefix, str(local))
        environ[name] = value
    return {k: v for k, v in environ.items() if k.startswith("TEMPORAL_")}


def test_temporal_cloud_values_connect_with_an_api_key_over_tls() -> None:
    worker = one(render("values-temporal-cloud.yaml"), "Deployment", "worker")
    options = load_profile(_environ(worker, {"TEMPORAL_API_KEY": "key-123"}, {}))
    assert options["api_key"] == "key-123"
    assert options["tls"] is not False
    assert options["target_host"].endswith(".api.temporal.io:7233")


def test_self_hosted_values_connect_with_the_mounted_client_certificate(tmp_path: Path) -> None:
    worker = one(render("values-self-hosted.yaml"), "Deployment", "worker")
    mount = next(m for m in container(worker)["volumeMounts"] if m["name"] == "temporal-tls")
    volume = next(v for v in pod_spec(worker)["volumes"] if v["name"] == "temporal-tls")
    assert volume["secret"]["secretName"] == "lifecycle-temporal-client"
    for name in ("tls.crt", "tls.key", "ca.crt"):  # the keys of a kubernetes.io/tls Secret
        (tmp_path / name).write_bytes(name.encode())
    options = load_profile(_environ(worker, {}, {mount["mountPath"]: tmp_path}))
    tls = options["tls"]
    assert not isinstance(tls, bool)
    assert (tls.client_cert, tls.client_private_key, tls.server_root_ca_cert) == (
        b"tls.crt",
        b"tls.key",
        b"ca.crt",
    )
    assert options["target_host"] == "temporal-frontend.temporal.svc.cluster.local:7233"
