"""Side-by-side HTTP benchmark of the generated app, the article's pattern and a raw ceiling.

Run from the template checkout (see bench/README.md)::

    uv run python -m bench            # the full run, about 40 minutes
    uv run python -m bench --smoke    # seconds; checks that everything works

It bakes the variants the chosen apps need (default, ``database_schema=app``,
``session_scope=task``, ``tenancy=schema-per-tenant``), installs them with
``uv sync``, creates one fresh database per app, migrates it with the
generated project's Alembic migrations, seeds items, starts every app the way
production does (uvicorn, 1 worker, uvloop, httptools), pinned to one core, and
drives each with wrk pinned to another core. Rounds are interleaved (every app
once per round, in rotating order) and the figures are the medians over rounds;
ratios are taken within each round, then their median is reported. Before the
timed rounds, every app is served once on a throwaway cluster that logs every
statement, to count the statements a read and a write send.
"""

import datetime as dt
import json
import shutil
import signal
from typing import Any

from bench.catalog import define_apps, needed_variants
from bench.copies import make_copy
from bench.load import check_wrk, cpu_layout, make_room, rss_kib, wrk
from bench.plan import PACKAGE, VARIANTS, parse_args
from bench.report import machine, markdown, server_version, summarize
from bench.servers import (
    App,
    bake,
    migrations_project,
    prepare_database,
    start,
    start_otlp_sink,
    stop,
    stop_otlp_sink,
    versions,
)
from bench.statements import count_statements
from bench.walk import walk
from tests import bytecode, postgres
from tests.faults.issuer import Issuer
from tests.tools import find_python


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    plan = parse_args(argv)
    # SIGTERM (and SIGINT when started in the background) still stop the apps and
    # drop the databases.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    wrk_bin = check_wrk()
    server_pin, client_pin, pinning = cpu_layout()
    python = find_python(plan.python_version)
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    run_dir = plan.out / started.strftime("%Y%m%dT%H%M%SZ")
    workdir = run_dir / "build"
    logs = run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    def say(text: str) -> None:
        print(text, flush=True)

    say(f"bench: {pinning}; results in {run_dir}")
    admin_url, embedded = postgres.find_server(run_dir / "postgres")
    variants = needed_variants(plan)
    say(f"bench: baking and installing the variants: {', '.join(variants)}")
    projects = {
        name: bake(workdir, name, python, python_version=plan.python_version, **VARIANTS[name])
        for name in variants
    }
    for name in plan.copies:
        projects[f"copy-{name}"] = make_copy(projects["default"], workdir, name, python)
    found_versions = versions(projects["default"])
    pg_version = server_version(admin_url)
    sink, otlp_endpoint = start_otlp_sink(client_pin) if "otel" in projects else (None, "")
    issuer = Issuer() if "jwt" in projects else None  # serves its keys from this process
    apps = define_apps(plan, projects, otlp_endpoint, issuer)
    statements = (
        count_statements(apps, projects, plan, server_pin, logs, say)
        if plan.count_statements
        else {}
    )
    try:
        for app in apps:
            if app.shares is not None:  # a lever: its host serves it
                host = app.shares
                if host.process is None:
                    prepare_database(host, admin_url, projects["default"], plan.items)
                    start(host, admin_url, server_pin, logs)
                app.database, app.port, app.process = host.database, host.port, host.process
                app.admin_url = host.admin_url
                continue
            migrations = migrations_project(app, plan, projects)
            prepare_database(app, admin_url, migrations, plan.items)
            start(app, admin_url, server_pin, logs)
            say(f"bench: {app.name} on {app.base_url} (pid {app.process.pid})")  # type: ignore[union-attr]

        for app in apps if plan.warmup_seconds else []:  # warm up, then the RSS reading
            for scenario in [x for x in plan.scenarios if x in app.scenarios]:
                wrk(
                    wrk_bin,
                    client_pin,
                    app,
                    scenario=scenario,
                    connections=max(plan.connections),
                    duration=plan.warmup_seconds,
                    items=plan.items,
                    others=apps,
                    settle=not plan.smoke,
                )
        rss: dict[str, Any] = {}
        for app in apps:
            make_room(app, apps)
            before = rss_kib(app)
            served = 0
            while served < plan.rss_requests:  # wrk cannot end early: short runs up to N
                served += wrk(
                    wrk_bin,
                    client_pin,
                    app,
                    scenario=app.scenarios[0],
                    connections=max(plan.connections),
                    duration=1 if plan.smoke else 5,
                    items=plan.items,
                    stop_after=plan.rss_requests - served,
                )["requests"]
            after = rss_kib(app)
            rss[app.name] = {
                "before_kib": before,
                "after_kib": after,
                "requests": served,
                "growth_percent": round(100 * (after - before) / before, 2),
            }
            say(
                f"bench: {app.name} RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB over "
                f"{served} requests"
            )

        samples: list[dict[str, Any]] = []
        for round_number in range(plan.rounds):
            order = apps[round_number % len(apps) :] + apps[: round_number % len(apps)]
            for scenario in plan.scenarios:
                for conns in plan.connections:
                    for app in [a for a in order if scenario in a.scenarios]:
                        sample = wrk(
                            wrk_bin,
                            client_pin,
                            app,
                            scenario=scenario,
                            connections=conns,
                            duration=plan.duration,
                            items=plan.items,
                            others=apps,
                            settle=not plan.smoke,
                        )
                        sample.update(
                            app=app.name, scenario=scenario, connections=conns, round=round_number
                        )
                        samples.append(sample)
                        say(
                            f"round {round_number + 1} {scenario:5} c={conns:<3} "
                            f"{app.name:18} {sample['rps']:9.1f} req/s  p50 "
                            f"{sample['p50_ms']:7.2f} ms  p99 {sample['p99_ms']:7.2f} ms"
                            f"  cpu {sample['cpu_ms']:.3f} ms"
                            + (
                                f"  connects/1k {sample['connects_per_1k']:g}"
                                if sample["connects_per_1k"] is not None
                                else ""
                            )
                            + (f"  errors {sample['errors']}" if sample["errors"] else "")
                        )
        for app in apps:
            if app.process is not None and app.process.poll() is not None:
                msg = f"{app.name} died:\n{app.log.read_text() if app.log else ''}"
                raise RuntimeError(msg)
        walked: dict[str, Any] = {}
        if plan.walk_rows and "list" in plan.scenarios:
            say(f"bench: walking {plan.walk_rows:,} items, every page")
            walker = App(
                "walk", "the list, walked", projects["default"], None, f"{PACKAGE}.main:app"
            )
            walked = walk(walker, admin_url, server_pin, logs, plan.walk_rows)
            say(f"bench: walked {walked['pages']:,} pages in {walked['seconds']:.1f} s")
    finally:
        for app in apps:
            stop(app)
        otlp_received = stop_otlp_sink(sink)
        if issuer is not None:
            issuer.close()
        if not plan.keep:
            hosts = {id(a.shares): a.shares for a in apps if a.shares is not None}
            for app in [*(a for a in apps if a.shares is None), *hosts.values()]:
                if app.database:
                    postgres.drop_database(admin_url, app.database)
            bytecode.contribute_adopted()  # for the test suite's next environments
            shutil.rmtree(workdir, ignore_errors=True)
        if embedded is not None:
            embedded.cleanup()  # type: ignore[attr-defined]

    result = {
        "started": started.isoformat(),
        "smoke": plan.smoke,
        "machine": machine(),
        "pinning": pinning,
        "postgresql": pg_version,
        "versions": found_versions,
        "plan": {
            "duration": plan.duration,
            "rounds": plan.rounds,
            "connections": plan.connections,
            "scenarios": plan.scenarios,
            "items": plan.items,
            "rss_requests": plan.rss_requests,
            "apps": {app.name: app.description for app in apps},
        },
        "samples": samples,
        "statements": statements,
        "otlp_sink": otlp_received,
        "rss": rss,
        "walk": walked,
        "summary": summarize(plan, samples),
    }
    table = markdown(result)
    (run_dir / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (run_dir / "results.md").write_text(table)
    shutil.copyfile(run_dir / "results.json", plan.out / "latest.json")
    shutil.copyfile(run_dir / "results.md", plan.out / "latest.md")
    say("")
    say(table)
    say(f"bench: wrote {run_dir / 'results.json'} and {run_dir / 'results.md'}")
    return 0
