"""The production deployment (docs/deploy.md) holds together without a cluster or an image build.

- deploy/dagster.yaml (Kubernetes) and deploy/docker/dagster.yaml validate against Dagster 1.13's
  own instance schema and their run launcher's own config schema; a misspelled key fails.
- The Docker variant, whose launcher needs no cluster, becomes a live instance on the test
  PostgreSQL; both keep the repository's run-queue limits, with run monitoring and retries on.
- The Kubernetes manifests go through `kubectl apply --dry-run=client --validate=false` for real.
  kubectl resolves every kind through an API server's discovery even in client dry-run, so the
  test serves a stub of the discovery documents (the built-in kinds a real server lists, nothing
  else) and answers 404 to every object, which is what "not created yet" looks like.
- The Dockerfile installs from setup.py and serves sync_pipeline.definitions (checked statically:
  images cannot be pulled here), and the manifests agree with it and with the instance yaml.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance
from dagster._config import process_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config

from sync_pipeline import settings
from sync_pipeline.dagster_home import ensure_dagster_schema

REPO = Path(__file__).resolve().parent.parent
K8S_INSTANCE = REPO / "deploy" / "dagster.yaml"
DOCKER_INSTANCE = REPO / "deploy" / "docker" / "dagster.yaml"
INSTANCES = [K8S_INSTANCE, DOCKER_INSTANCE]
MANIFESTS = REPO / "deploy" / "k8s"
DOCKERFILE = REPO / "Dockerfile"
KUBECTL = shutil.which("kubectl") or ("/usr/bin/kubectl" if Path("/usr/bin/kubectl").exists() else None)

# Dummy values for every variable the instance yamls read (`env:` entries).
INSTANCE_ENV = {
    "DAGSTER_PG_URL": "postgresql+psycopg2://dagster:secret@db.invalid:5432/sync?options=-csearch_path%3Ddagster",
    "DAGSTER_K8S_JOB_NAMESPACE": "sync-pipeline",
    "SYNC_DOCKER_NETWORK": "sync_pipeline",
}


def _validated(instance_yaml: str, tmp_path: Path) -> tuple[dict, dict]:
    """(instance config, run launcher config), each validated by Dagster's own schema."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(instance_yaml)
    config, _ = dagster_instance_config(str(home))
    launcher = config["run_launcher"]
    launcher_class = getattr(importlib.import_module(launcher["module"]), launcher["class"])
    result = process_config(launcher_class.config_type(), launcher["config"])
    if not result.success:
        raise DagsterInvalidConfigError(f"{launcher['class']} config", result.errors or [], launcher["config"])
    return config, result.value


def _documents(directory: Path) -> list[dict]:
    return [d for f in sorted(directory.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]


def _by_kind(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in _documents(MANIFESTS) if d["kind"] == kind}


# --- the instance yaml ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", INSTANCES, ids=lambda p: p.parent.name)
def test_instance_yaml_validates_against_dagsters_schema(path: Path, tmp_path: Path, monkeypatch) -> None:
    for name, value in INSTANCE_ENV.items():
        monkeypatch.setenv(name, value)
    config, launcher = _validated(path.read_text(), tmp_path)

    assert config["storage"]["postgres"]["postgres_url"] == {"env": "DAGSTER_PG_URL"}
    assert config["run_monitoring"]["enabled"] is True
    # sync_job runs its steps in the run worker: a dead worker fails the run, run_retries relaunch it
    assert config["run_monitoring"]["max_resume_run_attempts"] == 0
    assert config["run_monitoring"]["start_timeout_seconds"] > 0
    assert config["run_monitoring"]["cancel_timeout_seconds"] > 0
    assert config["run_retries"]["enabled"] is True and config["run_retries"]["max_retries"] >= 1
    if path == K8S_INSTANCE:
        assert config["run_launcher"]["class"] == "K8sRunLauncher"
        assert launcher["job_namespace"] == "sync-pipeline"  # resolved from the environment
        assert launcher["env_secrets"] == ["sync-pipeline-secrets"]
    else:
        assert config["run_launcher"]["class"] == "DockerRunLauncher"
        assert launcher["network"] == "sync_pipeline"


BROKEN = {
    "misspelled instance key": ("  max_resume_run_attempts: 0", "  max_resume_run_attempt: 0"),
    "misspelled launcher key": ("    env_vars:\n", "    env_var:\n"),
    "misspelled storage key": ("    postgres_url:", "    postgres_uri:"),
}


@pytest.mark.parametrize("path", INSTANCES, ids=lambda p: p.parent.name)
@pytest.mark.parametrize("broken", BROKEN, ids=list(BROKEN))
def test_a_misspelled_key_fails_validation(path: Path, broken: str, tmp_path: Path, monkeypatch) -> None:
    for name, value in INSTANCE_ENV.items():
        monkeypatch.setenv(name, value)
    good, bad = BROKEN[broken]
    text = path.read_text()
    assert good in text, f"{path}: the test's anchor {good!r} is gone; pick another key to misspell"
    with pytest.raises(DagsterInvalidConfigError):
        _validated(text.replace(good, bad, 1), tmp_path)


def test_an_unset_variable_fails_validation(tmp_path: Path, monkeypatch) -> None:
    for name, value in INSTANCE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DAGSTER_K8S_JOB_NAMESPACE")
    with pytest.raises(DagsterInvalidConfigError, match="DAGSTER_K8S_JOB_NAMESPACE"):
        _validated(K8S_INSTANCE.read_text(), tmp_path)


@pytest.mark.parametrize("path", INSTANCES, ids=lambda p: p.parent.name)
def test_run_queue_limits_equal_the_repositorys(path: Path) -> None:
    repo_limits = yaml.safe_load((REPO / "dagster.yaml").read_text())["concurrency"]
    assert yaml.safe_load(path.read_text())["concurrency"] == repo_limits
    assert "run_queue" not in yaml.safe_load(path.read_text())  # DESIGN §7: one place only


def test_docker_instance_runs_on_postgresql(tmp_path: Path, monkeypatch) -> None:
    """The Docker variant as a live instance on the test database: storage, run queue, monitoring,
    retries and launcher as Dagster builds them (the K8s launcher needs a cluster to start)."""
    pg_url = settings.dagster_pg_url()
    ensure_dagster_schema(pg_url)
    monkeypatch.setenv("DAGSTER_PG_URL", pg_url)
    monkeypatch.setenv("SYNC_DOCKER_NETWORK", "sync_pipeline")
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(DOCKER_INSTANCE, home / "dagster.yaml")
    with DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_launcher).__name__ == "DockerRunLauncher"
        assert type(instance.run_coordinator).__name__ == "OneWriterPerEmpreendimentoRunCoordinator"
        assert instance.run_monitoring_enabled and instance.run_monitoring_max_resume_run_attempts == 0
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        keys = {limit["key"] for limit in limits}
        assert keys == {"sync/empreendimento"}
        instance.get_runs(limit=1)  # the storage answers


# --- the Kubernetes manifests --------------------------------------------------------------------

# What a real API server's discovery lists for the kinds the manifests may use (built-in kinds only).
DISCOVERY = {
    "v1": {"ConfigMap": "configmaps", "Service": "services", "ServiceAccount": "serviceaccounts"},
    "apps/v1": {"Deployment": "deployments"},
    "rbac.authorization.k8s.io/v1": {"Role": "roles", "RoleBinding": "rolebindings"},
}


def _discovery_document(path: str) -> dict | None:
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    if path == "/apis":
        groups = []
        for group_version in DISCOVERY:
            if "/" in group_version:
                group, version = group_version.split("/")
                entry = {"groupVersion": group_version, "version": version}
                groups.append({"name": group, "versions": [entry], "preferredVersion": entry})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
    group_version = path.removeprefix("/apis/").removeprefix("/api/")
    if group_version in DISCOVERY:
        resources = [
            {"name": plural, "singularName": "", "namespaced": True, "kind": kind, "verbs": ["create", "get", "patch"]}
            for kind, plural in DISCOVERY[group_version].items()
        ]
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}
    return None  # /version, /openapi and every object: not found


@pytest.fixture
def discovery_stub() -> Iterator[tuple[str, list[str]]]:
    """(URL, paths requested) of a stub API server that only answers discovery."""
    requested: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = self.path.split("?")[0]
            requested.append(path)
            body = _discovery_document(path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body or {"kind": "Status", "status": "Failure", "code": 404}).encode())

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requested
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _kubectl_apply(server: str, manifests: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    assert KUBECTL is not None
    (tmp_path / "kubeconfig").write_text("")  # never the user's kubeconfig or cluster
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(tmp_path / "kubeconfig"), "--cache-dir", str(tmp_path / "kube-cache"),
         "--server", server, "--namespace", "sync-deploy-test",
         "apply", "--dry-run=client", "--validate=false", "-f", str(manifests)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _printed_name(doc: dict) -> str:
    """How kubectl names an object: kind.group/name (no group for the core API)."""
    group = doc["apiVersion"].rpartition("/")[0]
    return f"{doc['kind'].lower()}{'.' + group if group else ''}/{doc['metadata']['name']}"


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine (apt: kubernetes-client)")
def test_kubectl_apply_dry_run_lists_every_object(discovery_stub, tmp_path: Path) -> None:
    server, requested = discovery_stub
    docs = _documents(MANIFESTS)
    result = _kubectl_apply(server, MANIFESTS, tmp_path)
    assert result.returncode == 0, result.stderr
    printed = sorted(line.removesuffix(" created (dry run)") for line in result.stdout.splitlines())
    assert printed == sorted(_printed_name(d) for d in docs)
    assert len(printed) >= 11
    # Namespace-agnostic: no manifest names one, so every object lands where -n says.
    assert all("namespace" not in d["metadata"] for d in docs)
    namespaces = {m.group(1) for p in requested if (m := re.search(r"/namespaces/([^/]+)", p))}
    assert namespaces == {"sync-deploy-test"}


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine (apt: kubernetes-client)")
def test_kubectl_apply_dry_run_fails_on_an_unknown_kind(discovery_stub, tmp_path: Path) -> None:
    server, _ = discovery_stub
    broken = tmp_path / "k8s"
    shutil.copytree(MANIFESTS, broken)
    daemon = broken / "daemon.yaml"
    daemon.write_text(daemon.read_text().replace("kind: Deployment", "kind: Deploymnt"))
    result = _kubectl_apply(server, broken, tmp_path)
    assert result.returncode != 0
    assert "Deploymnt" in result.stderr


def test_instance_configmap_embeds_deploy_dagster_yaml() -> None:
    configmap = _by_kind("ConfigMap")["sync-pipeline-instance"]
    assert configmap["data"]["dagster.yaml"] == K8S_INSTANCE.read_text()


def test_manifests_agree_with_the_instance_yaml_and_the_image() -> None:
    launcher = yaml.safe_load(K8S_INSTANCE.read_text())["run_launcher"]["config"]
    deployments = _by_kind("Deployment")
    assert set(deployments) == {"sync-pipeline-code", "sync-pipeline-webserver", "sync-pipeline-daemon"}
    assert launcher["service_account_name"] in _by_kind("ServiceAccount")
    binding = _by_kind("RoleBinding")["sync-pipeline-run-launcher"]
    assert binding["subjects"][0]["name"] == launcher["service_account_name"]
    assert launcher["instance_config_map"] in _by_kind("ConfigMap")
    assert set(launcher["env_config_maps"]) <= set(_by_kind("ConfigMap"))
    assert _by_kind("Secret") == {}, "secrets are created in the cluster, never committed"
    assert _by_kind("ConfigMap")["sync-pipeline-env"]["data"]["SYNC_DEPLOYMENT"] == "production"

    images = set()
    for name, deployment in deployments.items():
        spec = deployment["spec"]["template"]["spec"]
        assert spec["serviceAccountName"] == launcher["service_account_name"], name
        for container in spec["containers"] + spec.get("initContainers", []):
            images.add(container["image"])
            secret_refs = {e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e}
            secret_refs |= {
                e["valueFrom"]["secretKeyRef"]["name"] for e in container.get("env", []) if "secretKeyRef" in str(e)
            }
            assert secret_refs <= set(launcher["env_secrets"]), name
    assert len(images) == 1, f"one image everywhere, got {images}"

    code = deployments["sync-pipeline-code"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in code["env"]}
    assert env["DAGSTER_CURRENT_IMAGE"] == code["image"]  # the image the run Jobs get
    assert code["command"] == _dockerfile_cmd()
    workspace = yaml.safe_load(_by_kind("ConfigMap")["sync-pipeline-workspace"]["data"]["workspace.yaml"])
    grpc = workspace["load_from"][0]["grpc_server"]
    service = _by_kind("Service")["sync-pipeline-code"]
    assert grpc["host"] == "sync-pipeline-code" and grpc["port"] == service["spec"]["ports"][0]["port"]
    assert str(grpc["port"]) in code["command"] and grpc["location_name"] in code["command"]
    assert deployments["sync-pipeline-daemon"]["spec"]["strategy"]["type"] == "Recreate"  # never two daemons


# --- the Dockerfile and the pinned extras --------------------------------------------------------


def _dockerfile_cmd() -> list[str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    (cmd,) = re.findall(r"^CMD\s+(\[.*\])\s*$", text, flags=re.M)
    return json.loads(cmd)


def test_dockerfile_installs_from_setup_py_and_serves_the_definitions() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, flags=re.M)
    assert re.search(r"^COPY setup\.py ", text, flags=re.M)
    assert re.search(r"^COPY sync_pipeline \./sync_pipeline$", text, flags=re.M)
    assert re.search(r"pip install '\.\[deploy\]'", text), "installs the project from setup.py with its deploy extra"
    cmd = _dockerfile_cmd()
    assert cmd[:3] == ["dagster", "code-server", "start"]
    assert cmd[cmd.index("--module-name") + 1] == "sync_pipeline.definitions"
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    assert re.search(r"^EXPOSE " + cmd[cmd.index("--port") + 1] + "$", text, flags=re.M)
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") :][:3] == ["*", "!setup.py", "!sync_pipeline/"]


def test_deploy_extra_is_pinned_to_the_dagster_postgres_line() -> None:
    setup_text = (REPO / "setup.py").read_text()
    postgres = re.search(r'"dagster-postgres==([\d.]+)"', setup_text).group(1)
    for name in ("dagster-k8s", "dagster-docker"):
        assert f'"{name}=={postgres}"' in setup_text, f"{name} pinned exactly to {postgres}"
        assert importlib.metadata.version(name) == postgres, f"{name}: run scripts/venv.sh (installs .[dev,deploy])"
    assert "'.[dev,deploy]'" in (REPO / "scripts" / "venv.sh").read_text()
