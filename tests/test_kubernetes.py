"""Kubernetes manifests of generated projects, validated as a cluster would read them.

Every rendering of deploy/kubernetes/ (each schema mode, and a slug that is no
valid Kubernetes name as it stands) is built with kubectl's own kustomize,
for the service and for the migration Job, beside the Secret that
docs/kubernetes.md's command creates. Every object passes strict validation
(unknown fields refused) against the API schemas of the oldest and newest
Kubernetes releases kubernetes-validate ships. The generated project's own
tests/test_deploy.py (run here in the default variant) checks the rest against
the service itself: probes against its routes and the image's port, the user
against the Dockerfile's, the connection budget, the drain against the grace
period.
"""

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from cookiecutter.main import cookiecutter

from tests import template
from tests.faults.service import InstalledVariant
from tests.kubernetes import KUBERNETES, SUPPORTED, kubectl, kustomize, problems

# The only answers deploy/kubernetes/ is rendered from (checked below).
KUBERNETES_ANSWERS = {"__k8s_name", "project_slug", "package_name", "__schema", "tenancy"}
RENDERINGS = {
    "default": {},
    "schema": {"database_schema": "billing"},
    "tenants": {"tenancy": "schema-per-tenant"},
    # The longest slug allowed (its package name has a shorter limit of its own).
    "long-slug": {"project_slug": "orders_service_" + "x" * 48, "package_name": "orders_service"},
}
# What Kubernetes accepts: any object's name (an RFC 1123 subdomain), and a
# Service's or Job's name and a label's value (an RFC 1123 label, 63 at most).
PART = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
SUBDOMAIN = re.compile(rf"(?=.{{1,253}}$){PART}(\.{PART})*")
LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def bake(answers: dict[str, str], output: Path) -> Path:
    return Path(
        cookiecutter(
            str(template.ROOT), no_input=True, extra_context=answers, output_dir=str(output)
        )
    )


def docs_secret(project: Path, password_file: Path) -> dict[str, Any]:
    """The Secret the docs' ``kubectl create secret`` line makes, without a cluster."""
    docs = (project / "docs" / "kubernetes.md").read_text()
    line = next(x for x in docs.splitlines() if x.startswith("kubectl create secret generic"))
    words = [w for w in shlex.split(line.split("#")[0]) if w != "kubectl"]
    words = [re.sub(r"=\S+$", f"={password_file}", w) if "--from-file" in w else w for w in words]
    return yaml.safe_load(kubectl(*words, "--dry-run=client", "-o", "yaml"))


def test_the_manifests_read_only_the_answers_the_renderings_vary() -> None:
    used = set()
    for path in (template.PROJECT_TEMPLATE / KUBERNETES).rglob("*"):
        if path.is_file():
            used |= set(re.findall(r"cookiecutter\.(\w+)", path.read_text()))
    assert used <= KUBERNETES_ANSWERS
    assert {"__schema", "tenancy", "project_slug"} <= used  # the renderings vary these


@pytest.mark.parametrize("answers", RENDERINGS.values(), ids=RENDERINGS.keys())
def test_every_rendering_passes_strict_validation(answers: dict[str, str], tmp_path: Path) -> None:
    project = bake(answers, tmp_path)
    (tmp_path / "password").write_text("s3cret\n")
    service = kustomize(project / KUBERNETES)
    migration = kustomize(project / KUBERNETES / "migrate")
    secret = docs_secret(project, tmp_path / "password")
    assert [d["kind"] for d in service] == [
        "ConfigMap",
        "Service",
        "Deployment",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    ]
    assert [d["kind"] for d in migration] == ["ConfigMap", "Job"]
    for release in SUPPORTED:
        found = [problems(document, release) for document in [*service, *migration, secret]]
        assert [p for p in found if p] == [], release

    objects = {d["kind"]: d for d in [*service, *migration]}
    names = [d["metadata"]["name"] for d in [*service, *migration, secret]]
    assert all(SUBDOMAIN.fullmatch(name) for name in names), names
    short = [objects[kind]["metadata"]["name"] for kind in ("Service", "Job")]
    short += [v for d in [*service, *migration] for v in d["metadata"]["labels"].values()]
    assert all(LABEL.fullmatch(name) for name in short), short
    deployment, job = objects["Deployment"], objects["Job"]
    pods = [deployment["spec"]["template"]["spec"], job["spec"]["template"]["spec"]]
    images = {c["image"] for pod in pods for c in pod["containers"]}
    assert len(images) == 1, images  # the service and its migrations: one image
    (image,) = images
    assert re.fullmatch(r"[a-z0-9._/-]+:[\w][\w.-]*", image), image
    assert not image.endswith(":latest")
    for pod in pods:
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["database-password"]["secret"]["secretName"] == secret["metadata"]["name"]
        assert "emptyDir" in volumes["tmp"]
        (container,) = pod["containers"]
        assert container["envFrom"] == [
            {"configMapRef": {"name": objects["ConfigMap"]["metadata"]["name"]}}
        ]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        password_file = {e["name"]: e["value"] for e in container["env"]}["DATABASE_PASSWORD_FILE"]
        assert mounts[str(Path(password_file).parent)] == "database-password"
        assert mounts["/tmp"] == "tmp"  # the only writable place
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }
        assert container["resources"]["requests"]
        assert container["resources"]["limits"]
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "alembic",
        "upgrade",
        "head",
    ]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert objects["Service"]["spec"]["selector"] == selector
    assert objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector
    target = objects["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert "replicas" not in deployment["spec"]  # the HPA's to set
    assert "WEB_CONCURRENCY" in objects["ConfigMap"]["data"]
    # The docs' commands name these objects and directories.
    docs = (project / "docs" / "kubernetes.md").read_text()
    for command in (
        f"kubectl delete job {job['metadata']['name']} --ignore-not-found",
        f"kubectl apply -k {KUBERNETES / 'migrate'}\n",
        f"job/{job['metadata']['name']}\n",
        f"kubectl apply -k {KUBERNETES}\n",
        f"kubectl rollout status deployment/{deployment['metadata']['name']}\n",
    ):
        assert command in docs, command


def test_a_malformed_manifest_fails_validation(tmp_path: Path) -> None:
    """The validation can fail: an unknown field, a wrong type, a missing field."""
    project = bake({}, tmp_path)
    deployment = next(d for d in kustomize(project / KUBERNETES) if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert problems(deployment, SUPPORTED[-1]) is None

    pod["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/health/ready"
    assert "'paht' was unexpected" in str(problems(deployment, SUPPORTED[0]))
    del pod["containers"][0]["readinessProbe"]["httpGet"]["paht"]
    pod["terminationGracePeriodSeconds"] = "20s"
    assert "is not of type 'integer'" in str(problems(deployment, SUPPORTED[-1]))
    pod["terminationGracePeriodSeconds"] = 20
    del pod["containers"][0]["image"]
    del pod["containers"][0]["name"]
    assert "'name' is a required property" in str(problems(deployment, SUPPORTED[-1]))


@pytest.mark.boot
def test_the_projects_own_checks_of_its_manifests_pass(install_variant, figure) -> None:
    """Probes against the app's routes and the image's port, the user against the
    Dockerfile's, the budget against maxReplicas, the drain against the grace period."""
    variant: InstalledVariant = install_variant({})
    done = variant.run("pytest", "-q", "-p", "no:cacheprovider", "tests/test_deploy.py")
    assert " passed" in done.stdout, done.stdout
    assert "failed" not in done.stdout, done.stdout
    assert "skipped" not in done.stdout, done.stdout
    figure(done.stdout.strip().splitlines()[-1])
