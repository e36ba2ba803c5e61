"""The deployment files agree with the service: budget, drain, probes, port and user.

deploy/kubernetes/ is read as the pods get it: the ConfigMap's settings
(``shared/config.env``) with the container's own ``env``, loaded by ``Settings``.
"""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from dotenv import dotenv_values

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.db.budget import (
    ConnectionBudget,
)
from {{ cookiecutter.package_name }}.main import (
    create_app,
)

from tests.database import PROJECT_ROOT

KUBERNETES = PROJECT_ROOT / "deploy" / "kubernetes"
# The server the budget is checked against: PostgreSQL's defaults. Put yours here.
SERVER_MAX_CONNECTIONS = 100
SERVER_SUPERUSER_RESERVED = 3
# After SIGTERM: uvicorn's supervisor passes it on within 0.5 s, and closing the
# pools and exiting takes well under 2 s once the requests in flight are done.
SIGNAL_FORWARDING = 0.5
CLOSING = 2.0
# Seconds the drain keeps serving after the readiness probe has failed for good,
# for the load balancer to act on it (docs/kubernetes.md).
LOAD_BALANCER_MARGIN = 2.0


def manifest(name: str) -> dict[str, Any]:
    """One manifest of deploy/kubernetes/."""
    loaded: dict[str, Any] = yaml.safe_load((KUBERNETES / name).read_text(encoding="utf-8"))
    return loaded


def container() -> dict[str, Any]:
    """The service's container in the Deployment."""
    pod: dict[str, Any] = manifest("deployment.yaml")["spec"]["template"]["spec"]
    found: dict[str, Any] = pod["containers"][0]
    return found


def pod_settings() -> Settings:
    """The settings the service's pods start with."""
    values: dict[str, Any] = dict(dotenv_values(KUBERNETES / "shared" / "config.env"))
    values |= {variable["name"]: variable["value"] for variable in container()["env"]}
    return Settings.model_validate({name.lower(): value for name, value in values.items()})


def dockerfile_line(instruction: str) -> str:
    """The last ``instruction`` line of the Dockerfile, without the instruction."""
    lines = (PROJECT_ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.startswith(f"{instruction} ")][-1].split(" ", 1)[1]


def test_the_pods_settings_load_for_production() -> None:
    settings = pod_settings()
    assert settings.environment == "production"
    assert settings.web_concurrency > 1
    assert settings.database_password_file == Path("/run/secrets/database/password")


def test_every_pod_that_can_hold_a_pool_fits_the_connection_budget() -> None:
    """The HPA's maximum, one more during a rolling update, one still draining."""
    settings = pod_settings()
    deployment = manifest("deployment.yaml")
    pods = (
        manifest("hpa.yaml")["spec"]["maxReplicas"]
        + deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
        + 1
    )
    assert settings.replicas >= pods, "REPLICAS must count every pod that can hold a pool"
    budget = ConnectionBudget(
        server="primary",
        workers=settings.web_concurrency,
        replicas=settings.replicas,
        per_worker=settings.database_pool_size + settings.database_max_overflow,
        max_connections=SERVER_MAX_CONNECTIONS,
        superuser_reserved=SERVER_SUPERUSER_RESERVED,
        reserved=settings.database_reserved_connections,
    )
    assert budget.fits, budget.describe()


def test_the_drain_outlasts_the_readiness_probe_and_fits_the_grace_period() -> None:
    settings = pod_settings()
    probe = container()["readinessProbe"]
    spec = manifest("deployment.yaml")["spec"]
    assert settings.drain_delay >= (
        probe["periodSeconds"] * probe["failureThreshold"] + LOAD_BALANCER_MARGIN
    )
    needed = settings.drain_delay + SIGNAL_FORWARDING + settings.in_flight_timeout + CLOSING
    grace = spec["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace >= needed
    assert spec["minReadySeconds"] > settings.drain_delay  # one pod drains at a time
    compose = yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text(encoding="utf-8"))
    assert compose["services"]["app"]["stop_grace_period"] == f"{grace}s"


def test_a_worker_slow_to_start_gets_a_second_try_within_the_startup_probe() -> None:
    """A worker silent for ``WORKER_HEALTHCHECK_TIMEOUT`` is replaced: twice that fits."""
    settings = pod_settings()
    probe = container()["startupProbe"]
    assert settings.worker_healthcheck_timeout >= 15  # uvicorn's 5 s starves slow starts
    window = probe["periodSeconds"] * probe["failureThreshold"]
    assert 2 * settings.worker_healthcheck_timeout <= window


def test_probes_ask_the_apps_routes_on_the_images_port() -> None:
    paths = create_app(pod_settings()).openapi()["paths"]
    port = next(p for p in container()["ports"] if p["name"] == "http")["containerPort"]
    command = json.loads(dockerfile_line("CMD"))
    assert command[command.index("--port") + 1] == str(port)
    probes = {name: container()[f"{name}Probe"]["httpGet"] for name in ("startup", "liveness")}
    probes["readiness"] = container()["readinessProbe"]["httpGet"]
    assert probes["readiness"]["path"] == "/health/ready"
    for name, probe in probes.items():
        assert "get" in paths.get(probe["path"], {}), name
        assert probe["port"] == "http", name


@pytest.mark.parametrize("manifest_name", ["deployment.yaml", "migrate/job.yaml"])
def test_pods_run_as_the_images_user(manifest_name: str) -> None:
    user, _, group = dockerfile_line("USER").partition(":")
    context = manifest(manifest_name)["spec"]["template"]["spec"]["securityContext"]
    assert (context["runAsUser"], context["runAsGroup"]) == (int(user), int(group))
    assert context["runAsNonRoot"] is True
