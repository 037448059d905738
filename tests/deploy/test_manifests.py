"""The deploy files say what the docs say: Kubernetes manifests valid, Compose services, the Dockerfile, Grafana."""

from __future__ import annotations

import json
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from deploy_helpers import DEPLOY, REPO, lofi_metrics_page, metric_names

K8S = sorted((DEPLOY / "k8s").glob("*.yaml"))
K8S_VERSION = "1.30.0"  # the oldest Kubernetes the manifests promise (docs/OPERATIONS.md)
OPERATIONS = (REPO / "docs" / "OPERATIONS.md").read_text(encoding="utf-8")
COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
# service -> (published ports, named volumes), as docs/OPERATIONS.md describes them
COMPOSE_SERVICES = {
    "api": (["8000:8000"], ["lofi-home"]),
    "worker": ([], ["lofi-home"]),
    "redis": ([], ["redis-data"]),
    "postgres": ([], ["postgres-data"]),
    "prometheus": (["9090:9090"], ["prometheus-data"]),
    "grafana": (["3000:3000"], ["grafana-data"]),
}


def k8s_documents() -> list[tuple[Path, dict]]:
    return [(path, doc) for path in K8S for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for _, doc in k8s_documents() if doc["kind"] == kind}


@pytest.mark.parametrize("path", K8S, ids=lambda p: p.name)
def test_k8s_manifest_validates(path):
    for doc in yaml.safe_load_all(path.read_text()):
        if doc:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # raises ValidationError


def test_k8s_validation_catches_mistakes():
    """The validator is not a rubber stamp: a misspelt field and a wrong type fail."""
    api = by_kind("Deployment")["lofi-api"]
    broken = json.loads(json.dumps(api))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)
    broken = json.loads(json.dumps(api))
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_k8s_has_what_the_issue_lists():
    kinds = {doc["kind"] for _, doc in k8s_documents()}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "ConfigMap", "Secret", "PersistentVolumeClaim"} <= kinds
    assert {"lofi-api", "lofi-worker"} <= set(by_kind("Deployment"))


def test_k8s_api_probes_and_resources():
    pod = by_kind("Deployment")["lofi-api"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/api/v1/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/v1/ready"
    for deployment in by_kind("Deployment").values():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), container["name"]
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), container["name"]
            names = {ref.get("configMapRef", ref.get("secretRef", {})).get("name") for ref in container["envFrom"]}
            assert names == {"lofi-config", "lofi-secrets"}
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/data" in mounts  # LOFI_HOME, on the shared claim
        volumes = deployment["spec"]["template"]["spec"]["volumes"]
        assert {"persistentVolumeClaim": {"claimName": "lofi-home"}, "name": "lofi-home"} in volumes
    assert by_kind("ConfigMap")["lofi-config"]["data"]["LOFI_HOME"] == "/data"
    assert by_kind("PersistentVolumeClaim")["lofi-home"]["spec"]["accessModes"] == ["ReadWriteMany"]


def test_k8s_shutdown_grace_fits_in_termination_grace():
    grace_s = float(by_kind("ConfigMap")["lofi-config"]["data"]["LOFI_SHUTDOWN_GRACE_S"])
    for name, deployment in by_kind("Deployment").items():
        assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace_s, name
    (worker,) = by_kind("Deployment")["lofi-worker"]["spec"]["template"]["spec"]["containers"]
    assert {"name": "REMAP_SIGTERM", "value": "SIGQUIT"} in worker["env"]


def test_k8s_autoscalers():
    hpas = by_kind("HorizontalPodAutoscaler")
    (api_metric,) = hpas["lofi-api"]["spec"]["metrics"]
    assert api_metric["type"] == "Resource" and api_metric["resource"]["name"] == "cpu"
    (worker_metric,) = hpas["lofi-worker"]["spec"]["metrics"]
    assert worker_metric["type"] == "External"
    assert worker_metric["external"]["metric"]["name"] == "lofi_queue_length"  # exported by lofi serve
    adapter = by_kind("ConfigMap")["lofi-prometheus-adapter"]["data"]["config.yaml"]
    assert "lofi_queue_length" in yaml.safe_load(adapter)["externalRules"][0]["seriesQuery"]


def test_compose_services_ports_and_volumes():
    services = COMPOSE["services"]
    for name, (ports, volumes) in COMPOSE_SERVICES.items():
        assert name in services, name
        assert services[name].get("ports", []) == ports, name
        mounted = {v.split(":")[0] for v in services[name].get("volumes", [])}
        assert set(volumes) <= mounted, (name, mounted)
        assert set(volumes) <= set(COMPOSE["volumes"]), name
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["LOFI_HOME"] == "/data"
        assert "lofi-home:/data" in services[name]["volumes"]
        assert (
            env["LOFI_DATABASE_URL"].startswith("postgresql+psycopg://")
            and "@postgres:5432/" in env["LOFI_DATABASE_URL"]
        )
        assert env["LOFI_QUEUE_URL"].startswith("redis://redis:6379")
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert services["api"]["command"] == ["serve"] and services["worker"]["command"] == ["worker"]
    assert services["worker"]["environment"]["REMAP_SIGTERM"] == "SIGQUIT"
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {t for job in prometheus["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    assert "api:8000" in targets


def test_operations_doc_describes_compose():
    """docs/OPERATIONS.md names every service, its published port and its volume."""
    for name, (ports, volumes) in COMPOSE_SERVICES.items():
        assert f"`{name}`" in OPERATIONS, name
        for port in ports:
            assert port.split(":")[0] in OPERATIONS, (name, port)
        for volume in volumes:
            assert f"`{volume}`" in OPERATIONS, (name, volume)
    for alert in re.findall(
        r"- alert: (\w+)", "".join(p.read_text() for p in (DEPLOY / "prometheus" / "alerts").glob("*.yml"))
    ):
        assert alert in OPERATIONS, f"{alert} is not explained in docs/OPERATIONS.md"


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_dockerfile_stages_and_setup_script():
    """Multi-stage; the system packages come from scripts/setup-system.sh, the script `make setup` runs."""
    instructions = dockerfile_instructions()
    stages = [re.search(r"\bAS (\w+)", args, re.I).group(1) for op, args in instructions if op == "FROM"]
    assert stages == ["system", "build", "runtime"]
    runs = [args for op, args in instructions if op == "RUN"]
    assert any("setup-system.sh" in run for run in runs)
    assert ("COPY", "scripts/setup-system.sh /tmp/setup-system.sh") in instructions
    makefile = (REPO / "Makefile").read_text()
    setup_recipe = re.search(r"^setup:.*\n\t(.+)$", makefile, re.M).group(1)
    assert setup_recipe.strip() == "bash scripts/setup-system.sh"
    # the image leaves out only the packages the tests need (the script's --runtime switch)
    script = (REPO / "scripts" / "setup-system.sh").read_text()
    assert "--runtime" in script and "prometheus" in script


def test_dockerfile_pins_torch_as_the_makefile_does():
    instructions = dockerfile_instructions()
    args = dict(a.split("=", 1) for op, a in instructions if op == "ARG" and "=" in a)
    makefile_torch = re.search(r"pip install -q torch==([\d.]+)", (REPO / "Makefile").read_text()).group(1)
    pyproject_torch = re.search(r'"torch==([\d.]+)"', (REPO / "pyproject.toml").read_text()).group(1)
    assert args["TORCH_VERSION"] == makefile_torch == pyproject_torch
    assert args["TORCH_VARIANT"] == "cpu"  # the CUDA variant is --build-arg TORCH_VARIANT=cu128
    runs = [a for op, a in instructions if op == "RUN"]
    torch_run = next(i for i, r in enumerate(runs) if "torch==${TORCH_VERSION}" in r)
    lofi_run = next(i for i, r in enumerate(runs) if "/src[${EXTRAS}]" in r)
    assert torch_run < lofi_run  # torch first, so nothing pulls another build in
    assert "download.pytorch.org/whl/${TORCH_VARIANT}" in runs[torch_run]
    for extra in args["EXTRAS"].split(","):
        assert re.search(rf"^{extra} = \[", (REPO / "pyproject.toml").read_text(), re.M), extra
    assert ("ENTRYPOINT", '["lofi"]') in instructions and ("USER", "lofi") in instructions
    assert any(op == "HEALTHCHECK" and "/api/v1/health" in a for op, a in instructions)


def grafana_exprs() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "lofi.json").read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert panels
    return [target["expr"] for panel in panels for target in panel["targets"]]


# names from the exporters docs/OPERATIONS.md lists: node-exporter, cAdvisor (kubelet), dcgm-exporter
EXPORTER_METRICS = {
    "up", "node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes", "container_memory_working_set_bytes",
    "container_spec_memory_limit_bytes", "DCGM_FI_DEV_GPU_UTIL",
}  # fmt: skip
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "by", "without", "rate", "histogram_quantile", "clamp_min", "on", "and", "or",
    "le", "route", "status", "state", "step", "job", "container", "pod", "instance", "offset",
}  # fmt: skip


def test_grafana_dashboard_names_real_metrics(tmp_path, tiny_checkpoint):
    exported = metric_names(lofi_metrics_page(tmp_path, Path(tiny_checkpoint.path))) | EXPORTER_METRICS
    for expr in grafana_exprs():
        bare = re.sub(r'\{[^}]*\}|"[^"]*"|\[[^\]]*\]', " ", expr)  # matchers, strings and ranges out
        names = {w for w in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", bare) if w not in PROMQL_WORDS}
        assert names, expr
        assert names <= exported, f"{expr}: {names - exported} not exported by lofi or a listed exporter"


def test_grafana_provisioning():
    datasource = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = datasource["datasources"]
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "lofi.json").read_text())
    uids = {p["datasource"]["uid"] for p in dashboard["panels"] if p["type"] != "row"}
    assert uids == {source["uid"]}
    provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "lofi.yml").read_text())
    grafana = COMPOSE["services"]["grafana"]
    assert f"./grafana/dashboards:{provider['providers'][0]['options']['path']}:ro" in grafana["volumes"]
