"""The figures of a run: medians over rounds, per-round ratios, and the Markdown tables."""

import os
import platform
import re
import statistics
from pathlib import Path
from typing import Any

from bench.plan import (
    ARTICLE,
    CEILING,
    GENERATED,
    GENERATED_JWT,
    GENERATED_OTEL,
    GENERATED_SCHEMA,
    GENERATED_TASK,
    GENERATED_TENANT,
    GENERATED_TX_READS,
    GENERATED_UNQUEUED,
    Plan,
)
from bench.walk import markdown as walk_markdown
from tests import postgres


def machine() -> dict[str, str]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        model = found.group(1) if found else ""
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "kernel": platform.release(),
        "system": platform.system(),
    }


def server_version(admin_url: str) -> str:
    return str(postgres.fetchval(admin_url, "SHOW server_version"))


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _median_or_none(values: list[float | None]) -> float | None:
    counted = [v for v in values if v is not None]
    return round(median(counted), 2) if counted else None


def summarize(plan: Plan, samples: list[dict[str, Any]]) -> dict[str, Any]:
    cells: dict[str, Any] = {}
    for app in plan.apps:
        for scenario in plan.scenarios:
            for conns in plan.connections:
                mine = [
                    s
                    for s in samples
                    if s["app"] == app and s["scenario"] == scenario and s["connections"] == conns
                ]
                if not mine:  # a lever that does not serve this scenario
                    continue
                cells[f"{app}/{scenario}/{conns}"] = {
                    "app": app,
                    "scenario": scenario,
                    "connections": conns,
                    "rps": round(median([s["rps"] for s in mine]), 1),
                    "p50_ms": round(median([s["p50_ms"] for s in mine]), 3),
                    "p99_ms": round(median([s["p99_ms"] for s in mine]), 3),
                    "cpu_ms": round(median([s["cpu_ms"] for s in mine]), 4),
                    "connects_per_1k": _median_or_none([s.get("connects_per_1k") for s in mine]),
                    "errors": sum(s["errors"] for s in mine),
                    "rounds": len(mine),
                }
    ratios: dict[str, Any] = {}
    pairs = [
        (GENERATED, ARTICLE),
        (GENERATED, CEILING),
        (GENERATED_SCHEMA, ARTICLE),
        (GENERATED_SCHEMA, CEILING),
        (GENERATED_TASK, ARTICLE),
        (GENERATED_TASK, CEILING),
        (GENERATED_TENANT, ARTICLE),
        (GENERATED_TENANT, CEILING),
        (GENERATED_OTEL, GENERATED),
        (GENERATED_OTEL, CEILING),
        (GENERATED_JWT, GENERATED),
        (GENERATED_JWT, CEILING),
        (GENERATED_TX_READS, GENERATED),
        (GENERATED_UNQUEUED, GENERATED),
        (ARTICLE, CEILING),
        *[(name, CEILING) for name in [*plan.extra, *plan.levers, *plan.copies]],
        *[(name, GENERATED) for name in [*plan.extra, *plan.copies]],
    ]
    for top, bottom in pairs:
        if top not in plan.apps or bottom not in plan.apps:
            continue
        for scenario in plan.scenarios:
            for conns in plan.connections:
                per_round, cpu_per_round = [], []
                for r in range(plan.rounds):
                    a = [
                        s
                        for s in samples
                        if (s["app"], s["scenario"], s["connections"], s["round"])
                        == (top, scenario, conns, r)
                    ]
                    b = [
                        s
                        for s in samples
                        if (s["app"], s["scenario"], s["connections"], s["round"])
                        == (bottom, scenario, conns, r)
                    ]
                    if a and b and b[0]["rps"]:
                        per_round.append(a[0]["rps"] / b[0]["rps"])
                    if a and b and b[0]["cpu_ms"]:
                        cpu_per_round.append(a[0]["cpu_ms"] / b[0]["cpu_ms"])
                if not per_round:
                    continue
                ratios[f"{top}/{bottom}/{scenario}/{conns}"] = {
                    "top": top,
                    "bottom": bottom,
                    "scenario": scenario,
                    "connections": conns,
                    "ratio": round(median(per_round), 3),
                    "per_round": [round(x, 3) for x in per_round],
                    "cpu_ratio": round(median(cpu_per_round), 3) if cpu_per_round else None,
                }
    return {"cells": cells, "ratios": ratios}


def markdown(result: dict[str, Any]) -> str:
    plan = result["plan"]
    summary = result["summary"]
    lines = [
        f"Run {result['started']} on {result['machine']['cpu']} "
        f"({result['machine']['cores']} cores, {result['machine']['system']} "
        f"{result['machine']['kernel']}), {result['pinning']}; PostgreSQL "
        f"{result['postgresql']}; "
        + ", ".join(f"{k} {v}" for k, v in result["versions"].items())
        + f". {plan['rounds']} interleaved rounds of {plan['duration']:.0f} s per cell, "
        f"medians; {plan['items']} seeded items; wrk, 1 thread.",
        "",
        "| app | scenario | connections | req/s | server CPU ms/request | p50 ms | p99 ms"
        " | connects per 1k requests | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for cell in summary["cells"].values():
        connects = cell.get("connects_per_1k")
        lines.append(
            f"| {cell['app']} | {cell['scenario']} | {cell['connections']} | "
            f"{cell['rps']:.0f} | {cell['cpu_ms']:.3f} | {cell['p50_ms']:.2f} | "
            f"{cell['p99_ms']:.2f} | {'-' if connects is None else f'{connects:g}'} | "
            f"{cell['errors']} |"
        )
    lines += [
        "",
        "| ratio (median of per-round ratios) | scenario | connections | req/s ratio"
        " | CPU/request ratio |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for ratio in summary["ratios"].values():
        cpu = ratio.get("cpu_ratio")
        lines.append(
            f"| {ratio['top']} / {ratio['bottom']} | {ratio['scenario']} | "
            f"{ratio['connections']} | {ratio['ratio']:.2f} | "
            f"{cpu if cpu is None else format(cpu, '.2f')} |"
        )
    if result.get("statements"):
        lines += [
            "",
            "| app | statements per read | statements per write |",
            "| --- | ---: | ---: |",
        ]
        for name, counted in result["statements"].items():
            lines.append(f"| {name} | {counted['read']:g} | {counted['write']:g} |")
    if result.get("otlp_sink"):
        sink = result["otlp_sink"]
        lines += [
            "",
            f"The traced app exported {sink['exports']:,} batches of spans"
            f" ({sink['bytes'] / 1e6:.1f} MB of OTLP protobuf) to the stand-in collector.",
        ]
    if result.get("walk"):
        lines += walk_markdown(result["walk"])
    lines += [
        "",
        f"| app | RSS before (MiB) | RSS after {plan['rss_requests']:,} requests (MiB) | growth |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, rss in result["rss"].items():
        lines.append(
            f"| {name} | {rss['before_kib'] / 1024:.1f} | {rss['after_kib'] / 1024:.1f} | "
            f"{rss['growth_percent']:+.1f}% |"
        )
    return "\n".join(lines) + "\n"
