"""What a run measures: the apps by name, the variants they are baked from, the command line."""

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from bench import ROOT

BENCH = ROOT / "bench"

RESULTS = BENCH / "results"

WRK_SCRIPT = BENCH / "wrk.lua"

PACKAGE = "orders_service"  # the default answers' package name

SCHEMA = "app"

# The read-path variants of bench/apps/levers.py measured by --levers.
LEVERS = [
    "orm-ping-tx",
    "orm-tx",
    "orm-ping-autocommit",
    "orm-autocommit",
    "core-session",
    "core-connection",
    "core-no-stmt-cache",
    "core-session-json",
    "core-request-scope",
    "raw-asyncpg",
    "raw-asyncpg-dep",
    "raw-asyncpg-tx",
    "no-db",
]

# As in apps/levers.py: the levers that also serve writes, and those that only do.
LEVER_WRITES = ["no-db", "raw-asyncpg-dep", "raw-asyncpg-tx", "core-connection", "orm-tx"]

LEVER_WRITE_ONLY = ["raw-asyncpg-tx"]

GENERATED = "generated"

GENERATED_SCHEMA = "generated-schema"

GENERATED_TASK = "generated-task"

GENERATED_TENANT = "generated-tenant"

GENERATED_OTEL = "generated-otel"

GENERATED_JWT = "generated-jwt"

GENERATED_TX_READS = "generated-tx-reads"

GENERATED_UNQUEUED = "generated-unqueued"

ARTICLE = "article"

CEILING = "ceiling"

TENANT = "bench"

# The baked variants, by name: their answers beyond the defaults.
VARIANTS: dict[str, dict[str, str]] = {
    "default": {},
    "schema": {"database_schema": SCHEMA},
    "task": {"session_scope": "task"},
    "tenant": {"tenancy": "schema-per-tenant"},
    "otel": {"observability": "opentelemetry"},
    "jwt": {"auth": "jwt"},
}

# Requests counted per app on the statement-logging cluster.
COUNTED_READS, COUNTED_WRITES = 200, 100


@dataclass
class Plan:
    """What one run measures and for how long."""

    duration: float
    warmup_seconds: float
    rss_requests: int
    rounds: int
    connections: list[int]
    scenarios: list[str]
    items: int
    python_version: str
    apps: list[str]
    smoke: bool
    keep: bool
    out: Path
    extra: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    levers: list[str] = field(default_factory=list)
    copies: list[str] = field(default_factory=list)
    count_statements: bool = True
    walk_rows: int = 0


def parse_args(argv: list[str] | None) -> Plan:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds, tiny counts")
    parser.add_argument("--duration", type=float, help="seconds per measurement (default 10)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3)")
    parser.add_argument("--connections", default=None, help="comma-separated (default 8,64)")
    parser.add_argument(
        "--scenarios", default="read,write,list", help="read, write and/or list (a page of 20)"
    )
    parser.add_argument("--rss-requests", type=int, help="requests between RSS readings")
    parser.add_argument("--items", type=int, default=1000, help="items seeded per database")
    parser.add_argument("--python", default="3.12", help="Python version of the baked projects")
    parser.add_argument(
        "--apps",
        default=",".join(
            [
                GENERATED,
                GENERATED_SCHEMA,
                GENERATED_TASK,
                GENERATED_TENANT,
                GENERATED_OTEL,
                GENERATED_JWT,
                GENERATED_TX_READS,
                GENERATED_UNQUEUED,
                ARTICLE,
                CEILING,
            ]
        ),
        help="which apps to run",
    )
    parser.add_argument(
        "--extra-app",
        action="append",
        default=[],
        metavar="NAME=DIR[,KEY=VALUE...]",
        help="also run a generated-style project from DIR (already synced), with env",
    )
    parser.add_argument(
        "--levers",
        nargs="?",
        const=",".join(LEVERS),
        default="",
        metavar="NAME,...",
        help="instead: the generated app and the variants of bench/apps/levers.py (default all)",
    )
    parser.add_argument(
        "--copies",
        default="",
        metavar="NAME,...",
        help="also run copies of the default bake with one lever each (bench/copies.py)",
    )
    parser.add_argument(
        "--walk-rows",
        type=int,
        help="rows of the pagination walk (default 1,000,000; smoke 3,000; 0: no walk)",
    )
    parser.add_argument(
        "--no-statements",
        action="store_true",
        help="skip counting statements per request on a statement-logging cluster",
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases and builds")
    parser.add_argument("--out", type=Path, help="results directory (default bench/results)")
    args = parser.parse_args(argv)
    smoke = args.smoke
    default_connections = "4,16" if smoke else "8,64"
    copies = [name for name in args.copies.split(",") if name]
    extra: dict[str, tuple[str, dict[str, str]]] = {}
    for spec in args.extra_app:
        name, _, rest = spec.partition("=")
        directory, *pairs = rest.split(",")
        extra[name] = (directory, dict(pair.split("=", 1) for pair in pairs))
    return Plan(
        duration=args.duration or (1.0 if smoke else 10.0),
        warmup_seconds=0 if smoke else 3.0,  # a smoke run measures nothing worth warming
        rss_requests=args.rss_requests or (500 if smoke else 50_000),
        rounds=args.rounds or (1 if smoke else 3),
        connections=[int(c) for c in (args.connections or default_connections).split(",")],
        scenarios=args.scenarios.split(","),
        items=args.items,
        python_version=args.python,
        apps=[CEILING, GENERATED, *args.levers.split(",")]
        if args.levers
        else [a for a in args.apps.split(",") if a] + list(extra) + copies,
        smoke=smoke,
        keep=args.keep,
        out=args.out or RESULTS,
        extra=extra,
        levers=args.levers.split(",") if args.levers else [],
        copies=copies,
        count_statements=not args.no_statements and not args.levers,
        walk_rows=0
        if args.levers
        else (args.walk_rows if args.walk_rows is not None else 3_000 if smoke else 1_000_000),
    )
