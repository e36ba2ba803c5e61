"""Schemathesis against every booted example variant's OpenAPI: no 5xx, no schema violation.

Each variant is served on a fresh migrated database (with bearer tokens, given
a valid token of an issuer on loopback) and fuzzed over HTTP with every check
schemathesis has (server errors, response schemas, status codes,
headers, content types, positive and negative data, stateful links). The log
must stay free of tracebacks.
"""

import re
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.faults.issuer import app_settings, running_issuer
from tests.faults.service import InstalledVariant, migrated_database
from tests.test_boot import BOOTED_VARIANTS, variant_id

pytestmark = pytest.mark.reliability

EXAMPLE_VARIANTS = [v for v in BOOTED_VARIANTS if v["include_example_api"] == "y"]
MAX_EXAMPLES = 50
SEED = 20260501


CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
    "object_level_authorization",
)
# Every check, on every operation but one exception: a cursor is an opaque string,
# so any string fits its schema, yet only one a ``next`` link handed out is
# accepted (any other is a 422, tested in every example project's
# tests/test_items.py). A CLI ``--checks`` would override the per-operation line.
CONFIG = "\n".join(
    [
        "[checks]",
        *(f"{check}.enabled = true" for check in CHECKS),
        "",
        "[[operations]]",
        'include-path = "/api/items"',
        'include-method = "GET"',
        "checks.positive_data_acceptance.enabled = false",
    ]
)


def schemathesis(
    url: str, workdir: Path, headers: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    (workdir / "schemathesis.toml").write_text(CONFIG)
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        url,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--request-timeout",
        "10",
        "--max-response-time",
        "5",
        *(f"--header={name}: {value}" for name, value in headers.items()),
    ]
    return subprocess.run(
        command,
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin", "HOME": str(workdir)},
    )


@pytest.mark.parametrize("answers", EXAMPLE_VARIANTS, ids=variant_id)
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    answers: dict[str, str], install_variant, pg_admin_url: str, tmp_path: Path, figure
) -> None:
    variant: InstalledVariant = install_variant(answers)
    with ExitStack() as stack:
        database = stack.enter_context(migrated_database(pg_admin_url, variant))
        settings, headers = {}, variant.headers
        if answers["auth"] == "jwt":  # a valid token from an issuer on loopback, for an hour
            tenant = {"tenant": variant.tenant} if variant.tenant else {}
            issuer = stack.enter_context(running_issuer(tenant))
            settings = app_settings(issuer.url)
            headers = issuer.bearer(exp=int(time.time()) + 3600)
        app = stack.enter_context(
            variant.serve(tmp_path / "app.log", database.app_url, **settings)
        )
        result = schemathesis(f"{app.base_url}/openapi.json", tmp_path, headers)
        app.assert_clean_log()
    output = result.stdout + result.stderr
    cases = re.search(r"(\d+) generated", output)
    assert cases, output
    assert result.returncode == 0, output
    operations = re.search(r"Tested: (\d+)", output)
    figure(
        f"{cases.group(1)} cases over {operations.group(1) if operations else '?'} operations"
        f" ({len(CHECKS)} checks, max {MAX_EXAMPLES} examples, seed {SEED}): 0 failures, 0 x 5xx"
    )
