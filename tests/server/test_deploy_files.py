"""The deployment files keep the promises the server relies on: the image never ships the GPL
`embedded` extra and runs as a numeric non-root user, health checks hit /healthz (liveness) and
/readyz (readiness), and every orchestrator waits longer than SHUTDOWN_GRACE_SECONDS before it
kills a stopping instance, so running replies finish instead of being cut off.

No Docker engine or Kubernetes API is needed: the files are parsed (PyYAML, a small Dockerfile
reader) and their settings are fed to the real `Settings`. Linting (hadolint) and schema
validation (the Compose Specification, Kubernetes' OpenAPI schemas) are described in
deploy/README.md.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from server.config import Settings
from server.health import service as health_service

ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "deploy" / "kubernetes"
# Settings that are secrets: never in a ConfigMap or a literal value in a manifest.
SECRET_NAMES = {"JWT_SECRET", "MONGODB_URL", "REDIS_URL", "SMTP_URL", "METRICS_TOKEN", "SENTRY_DSN"}


# --- Dockerfile ---------------------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), grouped by stage (FROM)."""
    text = (ROOT / "Dockerfile").read_text()
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[list[tuple[str, str]]] = []
    for instruction in logical:
        keyword, _, args = instruction.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, args.strip()))
    return stages


def test_dockerfile_is_multi_stage_and_never_installs_the_embedded_extra() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2, "build and runtime stages keep build tools out of the image"
    installs = [args for stage in stages for kw, args in stage if kw == "RUN" and "pip" in args]
    assert installs, "the builder installs the app with pip"
    for args in installs:
        # `pip install .` only: no `.[embedded]`, no extra at all, no SecantusDB by name.
        assert "embedded" not in args and "secantus" not in args.lower(), args
        assert not re.search(r"\.\s*\[", args) and "'.[" not in args, args
    runtime = stages[-1]
    assert not any(kw == "RUN" and "pip install" in args for kw, args in runtime)
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in runtime


def dockerfile_user() -> str:
    users = [args for kw, args in dockerfile_stages()[-1] if kw == "USER"]
    assert users, "the runtime stage must switch away from root"
    return users[-1]


def test_dockerfile_runs_as_a_numeric_non_root_user() -> None:
    user, _, group = dockerfile_user().partition(":")
    # Numeric, so Kubernetes' runAsNonRoot can check it (a name makes the kubelet refuse).
    assert user.isdigit() and int(user) != 0, user
    assert not group or (group.isdigit() and int(group) != 0), group


def test_dockerfile_healthcheck_stop_signal_and_command() -> None:
    runtime = dict(dockerfile_stages()[-1])
    assert "/healthz" in runtime["HEALTHCHECK"], "liveness only: /readyz would flap on a DB blip"
    assert "/readyz" not in runtime["HEALTHCHECK"]
    assert runtime.get("STOPSIGNAL", "SIGTERM") in {"SIGTERM", "15"}
    assert runtime["CMD"] == '["python", "-m", "server"]'
    assert "ENVIRONMENT=production" in runtime["ENV"]


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker's context would leave `path` out (enough of .dockerignore's rules for
    our patterns: a pattern excludes a path or any of its parent folders)."""
    parts = path.split("/")
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!").strip("/")
        candidates = {pattern, pattern.removeprefix("**/")}
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            tails = {prefix, parts[depth - 1]} if pattern.startswith("**/") else {prefix}
            if any(fnmatch.fnmatchcase(t, c) for t in tails for c in candidates):
                excluded = not negate
                break
    return excluded


def test_dockerignore_keeps_the_context_small_but_complete() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in (
        ".git/HEAD",
        ".venv/bin/python",
        ".data/mongo",
        ".env",
        "tests/conftest.py",
        "tests/node/node_modules/x/index.js",
        "server/__pycache__/app.cpython-311.pyc",
        "bench/load.py",
        "docs/OPERATIONS.md",
        "deploy/kubernetes/deployment.yaml",
    ):
        assert dockerignored(path, patterns), f"{path} must not reach the build context"
    # What `pip install .` needs: the project files and every package with its data files.
    needed = ["pyproject.toml", "README.md", "LICENSE"]
    pyproject = (ROOT / "pyproject.toml").read_text()
    data_globs = re.findall(r'^"([\w.]+)" = \["([^"]+)"\]', pyproject, flags=re.MULTILINE)
    assert data_globs, "package data (the web app, the JSON data files) is declared"
    for package, glob in data_globs:
        files = sorted((ROOT / package.replace(".", "/")).glob(glob))
        assert files, f"{package}: {glob} matches nothing"
        needed += [str(f.relative_to(ROOT)) for f in files]
    for path in needed:
        assert not dockerignored(path, patterns), f"{path} is needed by the build"


# --- docker-compose.yml -------------------------------------------------------------------

_INTERPOLATION = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?:(:-|:\?)([^}]*))?\}")


def compose() -> dict[str, Any]:
    """docker-compose.yml as Compose would see it with only JWT_SECRET in the environment:
    `${VAR:-default}` takes the default, `${VAR:?message}` must be set."""
    required: list[str] = []

    def interpolate(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        if name == "JWT_SECRET":
            return "j" * 48
        if operator == ":?":
            required.append(name)
        return argument or ""

    def walk(node: Any) -> Any:  # Compose interpolates the parsed file's strings
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        return _INTERPOLATION.sub(interpolate, node) if isinstance(node, str) else node

    document: dict[str, Any] = walk(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))
    assert not required, f"only JWT_SECRET may be required: {required}"
    return document


def seconds(duration: str | int | float) -> float:
    """A Compose duration ("35s", "1m30s", "500ms") in seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def settings_from(environment: dict[str, Any]) -> Settings:
    """The real `Settings` from a file's environment variables only (not this process's
    environment or .env), with its validators: what the server would accept at start-up."""
    return Settings.model_validate({k.lower(): str(v) for k, v in environment.items()})


def test_compose_app_settings_are_valid_for_production() -> None:
    app = compose()["services"]["app"]
    settings = settings_from(app["environment"])
    assert settings.is_production
    assert settings.redis_url, "several instances share sockets and jobs through Redis"
    assert settings.mongodb_url and "replicaSet=" in settings.mongodb_url
    assert "JWT_SECRET:?" in (ROOT / "docker-compose.yml").read_text()


def test_compose_stops_slower_than_the_shutdown_grace() -> None:
    app = compose()["services"]["app"]
    grace = settings_from(app["environment"]).shutdown_grace_seconds
    # Compose's default (10 s) would SIGKILL replies still finishing.
    assert "stop_grace_period" in app
    assert seconds(app["stop_grace_period"]) >= grace + 5, (app["stop_grace_period"], grace)


def test_compose_health_checks_and_start_order() -> None:
    services = compose()["services"]
    for name in ("mongo", "redis", "app"):
        assert services[name]["healthcheck"]["test"], name
    app_check = " ".join(services["app"]["healthcheck"]["test"])
    assert "/healthz" in app_check and "/readyz" not in app_check
    for dependency in ("mongo", "redis"):
        assert services["app"]["depends_on"][dependency]["condition"] == "service_healthy"
    replicas = int(services["app"].get("deploy", {}).get("replicas", 1))
    if replicas > 1:
        # Replicas cannot share a published host port: they sit behind the proxy.
        assert "ports" not in services["app"]
        assert services["proxy"]["depends_on"]["app"]["condition"] == "service_healthy"
        assert services["proxy"]["ports"]


# --- deploy/kubernetes --------------------------------------------------------------------


def manifests() -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(KUBE.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            key = (document["kind"], document["metadata"]["name"])
            assert key not in found, key
            found[key] = document | {"_file": path.name}
    return found


def api_container() -> tuple[dict[str, Any], dict[str, Any]]:
    deployment = manifests()[("Deployment", "starguide")]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = [c for c in pod["containers"] if c["name"] == "api"]
    return pod, container


def env_value(container: dict[str, Any], name: str) -> str:
    (value,) = [e["value"] for e in container.get("env", []) if e["name"] == name]
    return str(value)


def test_kustomization_lists_every_manifest_but_the_examples() -> None:
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    files = {p.name for p in KUBE.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == {f for f in files if not f.endswith(".example.yaml")}


def test_probes_use_liveness_and_readiness_endpoints() -> None:
    _, container = api_container()
    (port,) = container["ports"]
    assert port["containerPort"] == Settings.model_fields["port"].default
    for probe, path in (
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ):
        http = container[probe]["httpGet"]
        assert http["path"] == path, probe
        assert http["port"] in (port["name"], port["containerPort"]), probe
    # /readyz checks MongoDB, then Redis, each bounded by its own timeout: the probe waits for
    # both, or a slow-but-alive dependency reads as "not ready".
    readiness = container["readinessProbe"]
    assert readiness["timeoutSeconds"] >= 2 * health_service._CHECK_TIMEOUT_S


def prestop_sleep(container: dict[str, Any]) -> float:
    pre_stop = container["lifecycle"]["preStop"]
    if "sleep" in pre_stop:
        return float(pre_stop["sleep"]["seconds"])
    command = pre_stop["exec"]["command"]
    assert command[0] == "sleep" and len(command) == 2, command
    return float(command[1])


def test_termination_outlasts_prestop_and_the_shutdown_grace() -> None:
    pod, container = api_container()
    grace = float(env_value(container, "SHUTDOWN_GRACE_SECONDS"))
    assert settings_from({"SHUTDOWN_GRACE_SECONDS": grace}).shutdown_grace_seconds == grace
    sleep = prestop_sleep(container)
    # Endpoints must be gone before uvicorn stops listening, and the kill must come after the
    # grace plus the lifespan's close (marking leftover replies interrupted).
    assert sleep >= 3
    assert pod["terminationGracePeriodSeconds"] >= sleep + grace + 3, (sleep, grace)


def test_pod_runs_as_the_image_user_with_secrets_from_a_secret() -> None:
    pod, container = api_container()
    uid, _, _ = dockerfile_user().partition(":")
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == int(uid)
    sources = {next(iter(s)): next(iter(s.values()))["name"] for s in container["envFrom"]}
    assert "secretRef" in sources and "configMapRef" in sources
    literal = {e["name"] for e in container.get("env", [])}
    assert not literal & SECRET_NAMES
    for (kind, name), document in manifests().items():
        if kind == "ConfigMap":
            assert not set(document["data"]) & SECRET_NAMES, name
    resources = container["resources"]
    assert resources["requests"]["memory"] == "512Mi" and resources["limits"]["memory"] == "1Gi"
    assert str(resources["requests"]["cpu"]) == "1"


def test_configmap_and_example_secret_against_settings() -> None:
    found = manifests()
    config = found[("ConfigMap", "starguide-config")]["data"]
    secret = found[("Secret", "starguide-secrets")]["stringData"]
    _, container = api_container()
    values = {**config, **secret}
    values["SHUTDOWN_GRACE_SECONDS"] = env_value(container, "SHUTDOWN_GRACE_SECONDS")
    # The example's placeholder secret is too short: a pod started from it refuses to run.
    with pytest.raises(ValidationError, match="JWT_SECRET must be at least 32 bytes"):
        settings_from(values)
    values["JWT_SECRET"] = "s" * 48
    settings = settings_from(values)
    assert settings.is_production and settings.redis_url
    assert settings.forwarded_allow_ips != ["127.0.0.1", "::1"], "trust the ingress"


def test_service_hpa_and_pdb_select_the_pods() -> None:
    found = manifests()
    deployment = found[("Deployment", "starguide")]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    service = found[("Service", "starguide")]["spec"]
    assert service["selector"].items() <= labels.items()
    assert service["ports"][0]["targetPort"] == "http"
    pdb = found[("PodDisruptionBudget", "starguide")]["spec"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    hpa = found[("HorizontalPodAutoscaler", "starguide")]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "starguide",
    }
    (metric,) = hpa["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 60}
    assert hpa["minReplicas"] >= 2 and hpa["maxReplicas"] > hpa["minReplicas"]
