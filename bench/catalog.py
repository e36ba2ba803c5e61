"""The apps a run can measure, by name, and the baked variant each one is served from."""

import time
from pathlib import Path
from typing import Any

from bench.copies import COPIES
from bench.plan import (
    ARTICLE,
    BENCH,
    CEILING,
    GENERATED,
    GENERATED_JWT,
    GENERATED_OTEL,
    GENERATED_SCHEMA,
    GENERATED_TASK,
    GENERATED_TENANT,
    GENERATED_TX_READS,
    GENERATED_UNQUEUED,
    LEVER_WRITE_ONLY,
    LEVER_WRITES,
    PACKAGE,
    SCHEMA,
    TENANT,
    Plan,
)
from bench.servers import App
from tests.faults.issuer import app_settings

# The baked variant whose migrations make each app's database (else "default").
APP_VARIANTS = {
    ARTICLE: "schema",
    GENERATED_SCHEMA: "schema",
    GENERATED_TASK: "task",
    GENERATED_TENANT: "tenant",
    GENERATED_OTEL: "otel",
    GENERATED_JWT: "jwt",
}


def needed_variants(plan: Plan) -> list[str]:
    """The variants the chosen apps need, the default first (its migrations serve the rest)."""
    wanted = {APP_VARIANTS.get(name, "default") for name in plan.apps if name not in plan.extra}
    return ["default", *sorted(wanted - {"default"})]


def define_apps(
    plan: Plan, projects: dict[str, Path], otlp_endpoint: str = "", issuer: Any = None
) -> list[App]:
    default = projects["default"]
    generated = f"{PACKAGE}.main:app"
    apps: dict[str, App] = {
        GENERATED: App(GENERATED, "generated app, default variant", default, None, generated),
    }
    if GENERATED_SCHEMA in plan.apps:
        apps[GENERATED_SCHEMA] = App(
            GENERATED_SCHEMA,
            f"generated app, database_schema={SCHEMA}",
            projects["schema"],
            SCHEMA,
            generated,
            variant="schema",
        )
    if GENERATED_TASK in plan.apps:
        apps[GENERATED_TASK] = App(
            GENERATED_TASK,
            "generated app, session_scope=task",
            projects["task"],
            None,
            generated,
            variant="task",
        )
    if GENERATED_TENANT in plan.apps:
        apps[GENERATED_TENANT] = App(
            GENERATED_TENANT,
            f"generated app, tenancy=schema-per-tenant (X-Tenant: {TENANT})",
            projects["tenant"],
            None,
            generated,
            variant="tenant",
            env={"TENANTS": TENANT},
            headers={"X-Tenant": TENANT},
            seed_schema=f"tenant_{TENANT}",
        )
    if GENERATED_OTEL in plan.apps:
        apps[GENERATED_OTEL] = App(
            GENERATED_OTEL,
            "generated app, observability=opentelemetry, every span exported (OTLP/HTTP)",
            projects["otel"],
            None,
            generated,
            variant="otel",
            env={
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": otlp_endpoint,
            },
        )
    if GENERATED_JWT in plan.apps:
        apps[GENERATED_JWT] = App(
            GENERATED_JWT,
            "generated app, auth=jwt, every request's RS256 token verified (issuer on loopback)",
            projects["jwt"],
            None,
            generated,
            variant="jwt",
            env=app_settings(issuer.url),
            headers=issuer.bearer(exp=int(time.time()) + 86_400),
        )
    apps |= {
        GENERATED_TX_READS: App(
            GENERATED_TX_READS,
            "generated app, default variant, DATABASE_AUTOCOMMIT_READS=false",
            default,
            None,
            generated,
            env={"DATABASE_AUTOCOMMIT_READS": "false"},
        ),
        GENERATED_UNQUEUED: App(
            GENERATED_UNQUEUED,
            "generated app, default variant, without its admission queue (apps/unqueued.py)",
            default,
            None,
            "unqueued:app",
            app_dir=BENCH / "apps",
        ),
        ARTICLE: App(
            ARTICLE,
            f"the article's pattern (SET search_path TO {SCHEMA})",
            default,
            SCHEMA,
            "article:app",
            app_dir=BENCH / "apps",
            release="/bench/release",
            variant="schema",
            scenarios=("read", "write"),  # the article has no list
        ),
        CEILING: App(
            CEILING,
            "FastAPI + asyncpg pool + hand-written SQL",
            default,
            None,
            "ceiling:app",
            app_dir=BENCH / "apps",
        ),
    }
    if plan.levers:
        host = App(
            "levers",
            "bench/apps/levers.py",
            default,
            None,
            "levers:app",
            app_dir=BENCH / "apps",
            env={"BENCH_LEVERS": ",".join(plan.levers)},
            reads="/lever/no-db",
        )
        for name in plan.levers:
            apps[name] = App(
                name,
                f"lever {name}",
                default,
                None,
                "levers:app",
                reads=f"/lever/{name}",
                shares=host,
                scenarios=tuple(
                    scenario
                    for scenario, served in [
                        ("read", name not in LEVER_WRITE_ONLY),
                        ("write", name in LEVER_WRITES),
                    ]
                    if served
                ),
            )
    for name, (directory, env) in plan.extra.items():
        apps[name] = App(
            name,
            f"extra: {directory} {env or ''}".strip(),
            Path(directory),
            env.pop("DATABASE_SCHEMA", None),
            f"{PACKAGE}.main:app",
            env=env,
        )
    for name in plan.copies:
        copy = COPIES[name]
        apps[name] = App(
            name,
            f"copy: {copy.description}",
            projects[f"copy-{name}"],
            None,
            generated,
            env=dict(copy.env),
        )
    return [apps[name] for name in plan.apps]
