"""deploy/: the Kubernetes manifests validate against the Kubernetes schemas (kubernetes-validate,
offline), the compose file against the compose-spec schema (as check-jsonschema ships it), and both
agree with the Dockerfile (port, user, health paths) and with the service (settings, routes)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import shlex
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from service import create_app
from service.config import Settings
from service.ops import tracing
from tests.processes import ROOT, dockerfile_gunicorn_args

DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
K8S_VERSION = "1.30.0"  # the oldest Kubernetes release still commonly run that has every API used here
OPS_CONFIG = ["--config", "python:service.ops.gunicorn_conf"]


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def manifests() -> dict[str, dict[str, Any]]:
    """Every Kubernetes object of deploy/k8s by kind (the kustomization lists them all)."""
    kustomization = documents(K8S / "kustomization.yaml")[0]
    found = {}
    for name in kustomization["resources"]:
        for doc in documents(K8S / name):
            found[doc["kind"]] = doc
    return found


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text(encoding="utf-8")


def dockerfile_env() -> dict[str, str]:
    """The runtime ENV block of the Dockerfile (KEY=value pairs, continued lines joined)."""
    text = dockerfile().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV (.+)$", text, re.MULTILINE):
        for item in shlex.split(line):
            key, _, value = item.partition("=")
            env[key] = value
    return env


def known_settings() -> set[str]:
    """The HER2CDS_* variables the service reads: its settings (dataclass or pydantic) and the ops ones."""
    model_fields = getattr(Settings, "model_fields", None)
    names = set(model_fields) if model_fields else {field.name for field in dataclasses.fields(Settings)}
    ops = {tracing.ENDPOINT_ENV, tracing.MODE_ENV, tracing.SAMPLE_RATIO_ENV}
    return {f"HER2CDS_{name.upper()}" for name in names} | {"HER2CDS_CONFIG"} | ops


@pytest.mark.parametrize("name", [path.name for path in sorted(K8S.glob("*.yaml")) if path.name != "kustomization.yaml"])
def test_every_manifest_validates_against_the_kubernetes_schemas(name):
    for doc in documents(K8S / name):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_a_broken_manifest_is_refused_so_the_check_can_fail():
    deployment = manifests()["Deployment"]
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pathh"] = "/livez"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_the_kustomization_names_every_manifest_and_the_kinds_asked_for():
    listed = set(documents(K8S / "kustomization.yaml")[0]["resources"])
    assert listed == {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(manifests()) == {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap", "Secret"}


def compose_schema() -> dict[str, Any]:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return json.loads(schema_file.read_text(encoding="utf-8"))


def test_compose_validates_against_the_compose_spec_schema():
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    compose = documents(DEPLOY / "compose.yaml")[0]
    errors = [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(compose)]
    assert errors == []
    broken = {**compose, "services": {**compose["services"], "x": {"image": "y", "healthcheck": {"intervall": "5s"}}}}
    assert list(validator.iter_errors(broken))  # the schema does refuse a misspelt key


def test_compose_brings_up_the_service_hapi_and_postgres_with_health_checks():
    services = documents(DEPLOY / "compose.yaml")[0]["services"]
    assert set(services) == {"her2cds", "postgres", "hapi"}
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
    her2cds = services["her2cds"]
    assert her2cds["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert her2cds["build"]["args"]["EXTRAS"] == "postgres"
    assert her2cds["environment"]["HER2CDS_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in her2cds["environment"]["HER2CDS_DATABASE_URL"]
    assert her2cds["environment"]["HER2CDS_FHIR_SERVERS"] == "http://hapi:8080/fhir"
    assert her2cds["command"] == OPS_CONFIG
    assert (DEPLOY / services["hapi"]["build"]["context"] / "pom.xml").exists()
    assert (DEPLOY / services["hapi"]["build"]["context"] / services["hapi"]["build"]["dockerfile"]).exists()


def test_manifests_and_compose_agree_with_the_dockerfile():
    text = dockerfile()
    port = int(re.search(r"^EXPOSE (\d+)$", text, re.MULTILINE).group(1))
    uid, gid = map(int, re.search(r"^USER (\d+):(\d+)$", text, re.MULTILINE).group(1, 2))
    health_path = re.search(r"HEALTHCHECK_URL=http://127\.0\.0\.1:(\d+)(/\S+)", text)
    bind = dockerfile_gunicorn_args()
    assert int(bind[bind.index("--bind") + 1].rsplit(":", 1)[1]) == port == int(health_path.group(1))

    objects = manifests()
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert [p["containerPort"] for p in container["ports"]] == [port]
    assert objects["Service"]["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]
    assert pod["securityContext"]["runAsUser"] == container["securityContext"]["runAsUser"] == uid
    assert pod["securityContext"]["runAsGroup"] == gid and pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    # The Dockerfile's only writable path and gunicorn's --worker-tmp-dir are writable volumes in the pod.
    mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
    tmp_dir = bind[bind.index("--worker-tmp-dir") + 1]
    assert {"/app/var", "/tmp", tmp_dir} <= mounts
    assert container["args"] == OPS_CONFIG
    assert importlib.util.find_spec("service.ops.gunicorn_conf") is not None

    compose = documents(DEPLOY / "compose.yaml")[0]["services"]["her2cds"]
    assert compose["ports"] == [f"{port}:{port}"] and compose["user"] == f"{uid}:{gid}"
    assert f":{port}/readyz" in " ".join(compose["healthcheck"]["test"])

    # Probe paths are routes of the app, and the Dockerfile's health path too.
    app = create_app({"database_url": "sqlite:///:memory:"})
    client = app.test_client()
    probes = [container[probe]["httpGet"]["path"] for probe in ("startupProbe", "livenessProbe", "readinessProbe")]
    assert probes == ["/livez", "/livez", "/readyz"]
    for path in {*probes, health_path.group(2)}:
        assert client.get(path).status_code == 200, path
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] == "http"


def test_every_variable_the_deployment_sets_is_a_setting_the_service_reads():
    objects = manifests()
    container = objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    names = set(objects["ConfigMap"]["data"]) | {entry["name"] for entry in container["env"]}
    names |= {name for name in documents(DEPLOY / "compose.yaml")[0]["services"]["her2cds"]["environment"]}
    names |= {name for name in dockerfile_env() if name.startswith("HER2CDS_")}
    unknown = sorted(name for name in names if name.startswith("HER2CDS_") and name not in known_settings())
    assert unknown == []
    # The config file the ConfigMap names is the Secret's key, mounted where it says.
    config_path = Path(objects["ConfigMap"]["data"]["HER2CDS_CONFIG"])
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert str(config_path.parent) == mount["mountPath"] and config_path.name in objects["Secret"]["stringData"]


def test_several_replicas_share_postgresql_and_the_client_keys_are_in_the_secret():
    objects = manifests()
    assert objects["Deployment"]["spec"]["replicas"] >= 2 and objects["HorizontalPodAutoscaler"]["spec"]["minReplicas"] >= 2
    secret = objects["Secret"]["stringData"]
    assert secret["HER2CDS_DATABASE_URL"].startswith("postgresql+psycopg://")  # SQLite is one host's file
    assert "HER2CDS_DATABASE_URL" not in objects["ConfigMap"]["data"]
    clients = yaml.safe_load(secret["her2cds.yaml"])["clients"]
    assert clients and all(client.get("jwks") or client.get("jwks_url") for client in clients)
    pdb = objects["PodDisruptionBudget"]["spec"]
    assert pdb["minAvailable"] < objects["HorizontalPodAutoscaler"]["spec"]["minReplicas"]
    selector = objects["Deployment"]["spec"]["selector"]["matchLabels"]
    assert pdb["selector"]["matchLabels"] == selector == objects["Service"]["spec"]["selector"]
    assert objects["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == objects["Deployment"]["metadata"]["name"]
    resources_ = objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources_["requests"]["cpu"] and resources_["limits"]["memory"]
