"""A rolling update behind a real load balancer fails no request.

HAProxy (Debian's package) stands where kube-proxy or an ingress would: it
health-checks ``/health/ready`` with the Deployment's readiness period and
failure threshold, and retries nothing. Behind it, 3 instances of the image's
command (2 workers each, the manifests' settings) are replaced one by one
while 16 clients write items and read them back, as a Deployment with
``maxSurge: 1, maxUnavailable: 0`` does: start a replacement, wait until the
load balancer has it up, SIGTERM an old one. Then every acknowledged write
must be in the table.

The same roll is made first with ``DRAIN_DELAY=0`` in the instances being
replaced: it must fail requests, which shows the test can see a failure.
"""

import asyncio
import json
import os
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests import kubernetes, shipping
from tests.faults.haproxy import LoadBalancer
from tests.faults.service import LEAK_WARNINGS, InstalledVariant, free_port, migrated_database
from tests.tools import TLS, clean_env

pytestmark = pytest.mark.reliability

CLIENTS = 16
INSTANCES = 3
# Each client waits this long between a read and its next write, as clients do:
# starting replacements must not wait behind a machine saturated by the test.
THINK_SECONDS = 0.25
OK = {200, 201}


@dataclass
class Instance:
    """One running instance of the image's command."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    started: float = field(default_factory=time.monotonic)
    ended: float = 0.0

    async def exited(self, timeout: float) -> int:
        """Wait for the process to end (``ended`` says when, within 0.05 s); its exit code."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.ended = time.monotonic()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
            msg = f"{self.name} did not exit within {timeout} s:\n{self.log.read_text()}"
            raise AssertionError(msg)
        return self.process.returncode


@dataclass
class Traffic:
    """What the clients saw."""

    outcomes: Counter[int | str] = field(default_factory=Counter)
    acknowledged: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome not in OK)


async def client_loop(
    client: httpx.AsyncClient, number: int, traffic: Traffic, stop: asyncio.Event
):
    """Write an item, read it back through the load balancer; again until told to stop."""
    sent = 0
    while not stop.is_set():
        if sent:
            await asyncio.sleep(THINK_SECONDS)
        sent += 1
        name = f"roll-{number}-{sent}-{time.monotonic_ns()}"
        try:
            created = await client.post("/api/items", json={"name": name})
            traffic.outcomes[created.status_code] += 1
            if created.status_code != 201:
                continue
            traffic.acknowledged.append(name)
            read = await client.get(f"/api/items/{created.json()['id']}")
            traffic.outcomes[read.status_code] += 1
        except httpx.TransportError as exc:
            traffic.outcomes[type(exc).__name__] += 1


class Fleet:
    """Instances of the image's command on the load balancer's server slots."""

    def __init__(self, variant: InstalledVariant, env: dict[str, str], directory: Path) -> None:
        _, final = shipping.parse_dockerfile(variant.project / "Dockerfile")
        assert final.cmd
        python = variant.project / ".venv" / "bin" / "python"
        self.command = [str(python) if part == "python" else part for part in final.cmd]
        self.env = {**{k: v for k, v in final.env.items() if k != "PATH"}, **env}
        self.directory = directory
        self.instances: list[Instance] = []

    def start(self, port: int, **settings: str) -> Instance:
        """Start the image's command on ``port``, with these settings on top."""
        name = f"instance-{len(self.instances) + 1}"
        command = [
            part.replace("0.0.0.0", "127.0.0.1").replace("8000", str(port))
            for part in self.command
        ]
        log = self.directory / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                env=clean_env(**{**self.env, **settings}),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, for stop_all
            )
        self.instances.append(Instance(name, process, log))
        return self.instances[-1]

    def stop_all(self) -> None:
        """Stop whatever still runs at once: SIGINT to each instance's processes (no drain)."""
        running = [i for i in self.instances if i.process.poll() is None]
        for instance in running:
            os.killpg(instance.process.pid, signal.SIGINT)
        for instance in running:
            try:
                instance.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                instance.process.kill()
                instance.process.wait()


@dataclass
class Roll:
    """One rolling update: what the clients saw, how long its steps took."""

    traffic: Traffic
    replacements: list[tuple[str, Instance]]
    seconds: float  # from the first replacement's start to the last old slot down
    up_after: list[float]  # each replacement: started -> up in the load balancer
    stopped_after: list[float]  # each old instance: SIGTERM -> exit


async def roll(
    balancer: LoadBalancer, fleet: Fleet, old: list[tuple[str, Instance]], slots: list[str]
) -> Roll:
    """Replace ``old`` one by one under load, into ``slots``.

    The load runs from before the first replacement until every old instance
    has exited and the load balancer has marked its slot down.
    """
    traffic, stop = Traffic(), asyncio.Event()
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(
        base_url=balancer.url, timeout=30, limits=limits, verify=TLS
    ) as client:
        clients = [
            asyncio.create_task(client_loop(client, n, traffic, stop)) for n in range(CLIENTS)
        ]
        await asyncio.sleep(1)  # the load is on before the first replacement starts
        started = time.monotonic()
        replacements, up_after, stopping = [], [], []
        for (_, instance), slot in zip(old, slots, strict=True):
            replacement = fleet.start(balancer.servers[slot])
            await balancer.wait_for({slot: "UP"}, timeout=90)
            up_after.append(time.monotonic() - replacement.started)
            instance.process.terminate()  # SIGTERM, as the kubelet sends it
            stopping.append((time.monotonic(), asyncio.create_task(instance.exited(60))))
            replacements.append((slot, replacement))
        stopped_after = []
        for (_, instance), (sent, exited) in zip(old, stopping, strict=True):
            assert await exited == 0, instance.log.read_text()
            stopped_after.append(instance.ended - sent)
        await balancer.wait_for({slot: "DOWN" for slot, _ in old}, timeout=30)
        seconds = time.monotonic() - started
        stop.set()
        await asyncio.gather(*clients)
    return Roll(traffic, replacements, seconds, up_after, stopped_after)


async def ready(instances: dict[int, Instance], timeout: float = 60) -> None:
    """Wait until each instance answers ``/health/ready`` with 200 itself.

    An instance that exits, or is not ready in time, fails the wait with its
    last answer and its log.
    """
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5, verify=TLS) as client:
        for port, instance in instances.items():
            last: object = None
            while True:
                try:
                    answer = await client.get(f"http://127.0.0.1:{port}/health/ready")
                    if answer.status_code == 200:
                        break
                    last = (answer.status_code, answer.text[:200])
                except httpx.TransportError as exc:
                    last = repr(exc)
                exited = instance.process.poll()
                if exited is not None or time.monotonic() > deadline:
                    state = f"exited {exited}" if exited is not None else f"not within {timeout} s"
                    msg = f"{instance.name} on port {port} not ready ({state}), last answer {last}"
                    raise AssertionError(f"{msg}:\n{instance.log.read_text()[-4000:]}")
                await asyncio.sleep(0.2)


async def stored(database) -> Counter[str]:
    return Counter(await database.item_names())


def pod_env(project: Path, database_url: str, directory: Path) -> dict[str, str]:
    """The pod's environment from the manifests, on the test's database."""
    container = kubernetes.app_container(project)
    password = directory / "password"
    password.write_text("not-a-default-secret\n")
    return {
        **kubernetes.config_env(project),
        **{variable["name"]: variable["value"] for variable in container["env"]},
        "DATABASE_URL": database_url,
        "DATABASE_PASSWORD_FILE": str(password),  # the Secret's file
        "DATABASE_ALLOW_PLAINTEXT": "true",  # the test server speaks no TLS
    }


def test_a_rolling_update_behind_haproxy_fails_no_request(
    install_variant, pg_admin_url: str, tmp_path: Path, figure
) -> None:
    variant: InstalledVariant = install_variant({})
    project = variant.project
    settings = kubernetes.config_env(project)
    probe = kubernetes.app_container(project)["readinessProbe"]
    pod = kubernetes.manifest(project, "deployment.yaml")["spec"]["template"]["spec"]
    grace = pod["terminationGracePeriodSeconds"]

    with migrated_database(pg_admin_url, variant) as database:
        fleet = Fleet(variant, pod_env(project, database.app_url, tmp_path), tmp_path)
        slots = {f"s{n}": free_port() for n in range(2 * INSTANCES)}
        first, second = list(slots)[:INSTANCES], list(slots)[INSTANCES:]
        balancer = LoadBalancer.start(
            tmp_path,
            slots,
            check_path=probe["httpGet"]["path"],
            interval=probe["periodSeconds"],
            fall=probe["failureThreshold"],
            check_timeout=probe["timeoutSeconds"],
        )
        try:
            # The control: instances that stop accepting at SIGTERM (no drain)...
            instances = [(slot, fleet.start(slots[slot], DRAIN_DELAY="0")) for slot in first]
            asyncio.run(ready({slots[slot]: instance for slot, instance in instances}))
            wanted = {**dict.fromkeys(first, "UP"), **dict.fromkeys(second, "DOWN")}
            asyncio.run(balancer.wait_for(wanted, timeout=60))
            control = asyncio.run(roll(balancer, fleet, instances, second))
            # ...replaced by instances with the manifests' drain, which are rolled in turn.
            drained = asyncio.run(roll(balancer, fleet, control.replacements, first))
        finally:
            fleet.stop_all()
            balancer_log = balancer.stop()
        rows = asyncio.run(stored(database))

    for traffic in (control.traffic, drained.traffic):
        missing = [name for name in traffic.acknowledged if rows[name] != 1]
        assert missing == [], f"{len(missing)} acknowledged writes not stored once"
    for _, instance in control.replacements:
        text = instance.log.read_text()
        assert text.count("Application shutdown complete") == 2, text
        for unwanted in ("Traceback", "ERROR", *LEAK_WARNINGS):
            assert unwanted not in text, text
    figure(
        f"drain {settings['DRAIN_DELAY']} s: {describe(drained)};"
        f" control, drain 0: {describe(control)}"
        f" {json.dumps({str(k): v for k, v in control.traffic.outcomes.items()})}"
    )
    assert drained.traffic.failed == 0, (dict(drained.traffic.outcomes), balancer_log)
    assert max(drained.stopped_after) < grace
    assert control.traffic.failed > 0, dict(control.traffic.outcomes)


def describe(done: Roll) -> str:
    traffic = done.traffic
    return (
        f"{sum(traffic.outcomes.values())} requests, {traffic.failed} failed,"
        f" {len(traffic.acknowledged)} writes acknowledged, all stored;"
        f" roll {done.seconds:.1f} s (replacement up in the balancer after"
        f" {min(done.up_after):.1f}-{max(done.up_after):.1f} s, old instance exit after"
        f" {min(done.stopped_after):.1f}-{max(done.stopped_after):.1f} s)"
    )


# Longer than two of uvicorn's own worker health-check timeouts (5 s each: its
# supervisor pings the workers one after the other, so the second gets up to
# 10 s), well within the service's default (WORKER_HEALTHCHECK_TIMEOUT, 30 s).
SLOW_START_SECONDS = 12


def test_workers_that_start_slowly_are_not_killed_in_a_loop(
    install_variant, pg_admin_url: str, tmp_path: Path, figure
) -> None:
    """A CPU-starved pod's workers start late: the supervisor must wait for them.

    Each spawned worker sleeps before it starts (a ``sitecustomize`` on its
    path), as a worker does that imports the app on a fraction of a CPU. With
    uvicorn's 5 s the supervisor kills it unanswered and spawns the next, which
    fares no better: that instance never serves, which shows the test can fail.
    """
    variant: InstalledVariant = install_variant({})
    slow = tmp_path / "slow-start"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text(
        "import sys, time\n"
        "if '--multiprocessing-fork' in sys.argv:  # a spawned worker process\n"
        f"    time.sleep({SLOW_START_SECONDS})\n"
    )
    with migrated_database(pg_admin_url, variant) as database:
        env = {**pod_env(variant.project, database.app_url, tmp_path), "PYTHONPATH": str(slow)}
        fleet = Fleet(variant, env, tmp_path)
        try:
            uvicorns = fleet.start(free_port(), WORKER_HEALTHCHECK_TIMEOUT="5")
            shipped_port = free_port()
            shipped = fleet.start(shipped_port)
            asyncio.run(ready({shipped_port: shipped}))
            took = time.monotonic() - shipped.started
            # By then the other instance's first workers went unanswered for 5 s.
            asyncio.run(asyncio.sleep(max(0.0, SLOW_START_SECONDS + 6 - took)))
            killed = uvicorns.log.read_text().count("died")
        finally:
            fleet.stop_all()
    shipped_log = shipped.log.read_text()
    assert "died" not in shipped_log, shipped_log
    assert killed >= 2, uvicorns.log.read_text()  # both first workers, and maybe more
    assert "Application startup complete" not in uvicorns.log.read_text()
    figure(
        f"workers {SLOW_START_SECONDS} s late to start: ready after {took:.1f} s with the"
        f" default WORKER_HEALTHCHECK_TIMEOUT; with uvicorn's 5 s, {killed} workers killed"
        f" and none served in {time.monotonic() - uvicorns.started:.0f} s"
    )
