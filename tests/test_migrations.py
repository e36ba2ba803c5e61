"""The model-change workflow, run the way a team runs it, in every schema mode.

Each variant is baked and installed fresh, then driven with the commands its
README gives: ``alembic upgrade head`` on a new database and ``alembic check``;
a model change (a nullable column on ``items`` and a new table with a foreign
key to it, or two new tables where the project has no example model);
``alembic revision --autogenerate``, whose revision must hold exactly those
operations, name no schema, and pass ruff; then ``upgrade``, ``check``,
``downgrade -1``, ``upgrade`` again and ``downgrade base``, with the tables
checked in every schema of the database after each step. Tenant variants also
migrate one tenant, create a tenant after the new revision, and read
``alembic current`` per tenant. Session scope and Python version do not touch
migrations, so every variant here uses the defaults for them; the variants
cover every schema mode and both answers to the example API.

A second test holds a lock on ``items`` from another connection while a
migration alters it: the migration must give up after its ``lock_timeout``
with a clear message and nothing applied, while the served app keeps answering.
"""

import ast
import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests import postgres
from tests.faults.service import InstalledVariant, migrated_database
from tests.test_boot import tables_by_schema
from tests.tools import TLS, clean_env, uv_bin

pytestmark = pytest.mark.boot

SCHEMA_MODES = {
    "default": {},
    "custom": {"database_schema": "billing"},
    "tenant": {"tenancy": "schema-per-tenant"},
}
TENANTS = ["acme", "globex"]
LATE_TENANT = "initech"
LOCK_TIMEOUT = 3.0  # DATABASE_MIGRATION_LOCK_TIMEOUT's documented default


@dataclass(frozen=True)
class ModelChange:
    """An edit a team makes to the models, and what autogenerate must write for it."""

    upgrade: list[tuple[str, str]]
    downgrade: list[tuple[str, str]]
    tables: set[str]
    column: tuple[str, str] | None

    def apply(self, variant: InstalledVariant) -> None:
        package = variant.project / "src" / variant.package
        if self.column:
            edit_items_model(package / "items" / "models.py")
        else:
            add_widgets_module(package, variant.package)


ITEM_CHANGE = ModelChange(
    upgrade=[
        ("create_table", "item_notes"),
        ("create_index", "item_notes"),
        ("add_column", "items"),
    ],
    downgrade=[
        ("drop_column", "items"),
        ("drop_index", "item_notes"),
        ("drop_table", "item_notes"),
    ],
    tables={"item_notes"},
    column=("items", "sku"),
)
FIRST_MODELS_CHANGE = ModelChange(
    upgrade=[
        ("create_table", "widgets"),
        ("create_table", "widget_parts"),
        ("create_index", "widget_parts"),
    ],
    downgrade=[
        ("drop_index", "widget_parts"),
        ("drop_table", "widget_parts"),
        ("drop_table", "widgets"),
    ],
    tables={"widgets", "widget_parts"},
    column=None,
)

ITEM_NOTE_MODEL = '''

class ItemNote(Base):
    """A note on an item."""

    __tablename__ = "item_notes"

    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(String(500))
'''

WIDGETS_MODULE = '''"""Widgets and their parts."""

from sqlalchemy import ForeignKey, Identity, String
from sqlalchemy.orm import Mapped, mapped_column

from {package}.db import Base


class Widget(Base):
    """A widget."""

    __tablename__ = "widgets"

    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class WidgetPart(Base):
    """A part of a widget."""

    __tablename__ = "widget_parts"

    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    widget_id: Mapped[int] = mapped_column(ForeignKey("widgets.id"), index=True)
    label: Mapped[str | None] = mapped_column(String(100))
'''


def replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} not found once in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def edit_items_model(models: Path) -> None:
    """Add a nullable ``sku`` to ``Item`` and an ``ItemNote`` table referring to items."""
    replace_once(
        models,
        "from sqlalchemy import DateTime, Identity, String, func",
        "from sqlalchemy import DateTime, ForeignKey, Identity, String, func",
    )
    text = models.read_text(encoding="utf-8").rstrip("\n")
    sku = "\n    sku: Mapped[str | None] = mapped_column(String(40))\n"
    models.write_text(text + "\n" + sku + ITEM_NOTE_MODEL, encoding="utf-8")


def add_widgets_module(package_dir: Path, package: str) -> None:
    """A project's first models, imported where the README says to."""
    (package_dir / "widgets.py").write_text(WIDGETS_MODULE.format(package=package))
    base_import = f"from {package}.db import (\n    Base,\n)\n"
    replace_once(
        package_dir / "models.py",
        base_import,
        f"{base_import}from {package}.widgets import Widget, WidgetPart\n",
    )
    replace_once(
        package_dir / "models.py",
        '__all__ = ["Base"]',
        '__all__ = ["Base", "Widget", "WidgetPart"]',
    )


def operations(revision: Path, function: str) -> list[tuple[str, str]]:
    """(operation, table) for each ``op.*`` statement of ``upgrade`` or ``downgrade``."""
    tree = ast.parse(revision.read_text(encoding="utf-8"))
    body = next(
        node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == function
    )
    found = []
    for statement in body.body:
        call = statement.value if isinstance(statement, ast.Expr) else None
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
            continue
        names = [a.value for a in call.args if isinstance(a, ast.Constant)]
        names += [
            k.value.value
            for k in call.keywords
            if k.arg == "table_name" and isinstance(k.value, ast.Constant)
        ]
        found.append((call.func.attr, names[0]))
    return found


def schema_names_in(revision: Path, schemas: list[str]) -> list[str]:
    """Every ``schema=`` argument or schema name the revision mentions (must be none)."""
    found = []
    for node in ast.walk(ast.parse(revision.read_text(encoding="utf-8"))):
        if isinstance(node, ast.keyword) and node.arg == "schema":
            found.append(ast.unparse(node))
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += [s for s in schemas if s in node.value]
    return found


async def columns_of(url: str, table: str) -> dict[str, set[str]]:
    """The columns of every table named ``table``, by schema."""
    return await postgres.names_by_schema(
        url,
        "SELECT table_schema, column_name FROM information_schema.columns WHERE table_name = $1",
        table,
    )


class Workflow:
    """One installed variant on one fresh database, driven through its commands."""

    def __init__(self, variant: InstalledVariant, admin_url: str, database: str) -> None:
        self.variant = variant
        self.plain_url = postgres.with_database(admin_url, database)
        self.env = {
            "DATABASE_URL": postgres.with_database(
                admin_url, database, driver="postgresql+asyncpg"
            ),
            **({"TENANTS": ",".join(TENANTS)} if self.tenants else {}),
        }

    @property
    def tenants(self) -> bool:
        return self.variant.answers.get("tenancy") == "schema-per-tenant"

    @property
    def schemas(self) -> list[str]:
        if self.tenants:
            return [f"tenant_{t}" for t in TENANTS]
        return [self.variant.answers.get("database_schema") or "public"]

    def alembic(self, *args: str, **env: str) -> str:
        return self.variant.run("alembic", *args, **{**self.env, **env}).stdout

    def failing_alembic(self, *args: str) -> str:
        result = self.variant.try_run("alembic", *args, **self.env)
        assert result.returncode != 0, result.stdout + result.stderr
        return result.stderr

    def assert_check_is_clean(self) -> None:
        assert "No new upgrade operations detected" in self.alembic("check")

    def tables(self) -> dict[str, set[str]]:
        return asyncio.run(tables_by_schema(self.plain_url))

    def assert_tables(self, expected: set[str], schemas: list[str] | None = None) -> None:
        """Exactly ``expected`` (and alembic_version) in the schemas, nothing anywhere else."""
        tables = {"alembic_version", *expected}
        assert self.tables() == {schema: tables for schema in schemas or self.schemas}

    def columns(self, table: str) -> dict[str, set[str]]:
        return asyncio.run(columns_of(self.plain_url, table))

    def revision_files(self) -> set[Path]:
        return set((self.variant.project / "migrations" / "versions").glob("*.py"))


def variant_answers(mode: str, example: str) -> dict[str, str]:
    return {"python_version": "3.12", "include_example_api": example, **SCHEMA_MODES[mode]}


# Every schema mode with the example model; and a project's first models in the
# mode with the most moving parts (tenants).
WORKFLOW_VARIANTS = [("default", "y"), ("custom", "y"), ("tenant", "y"), ("tenant", "n")]


@pytest.mark.parametrize(
    ("mode", "example"), WORKFLOW_VARIANTS, ids=[f"{m}-example={e}" for m, e in WORKFLOW_VARIANTS]
)
def test_model_change_autogenerates_exactly_that_and_migrates_both_ways(
    mode: str, example: str, tmp_path: Path, pg_admin_url: str, fresh_database: str, figure
) -> None:
    started = time.monotonic()
    variant = InstalledVariant.install(variant_answers(mode, example), tmp_path)
    flow = Workflow(variant, pg_admin_url, fresh_database)
    change = ITEM_CHANGE if example == "y" else FIRST_MODELS_CHANGE
    before = {"items"} if example == "y" else set()
    previous = ["0001"] if example == "y" else []  # `alembic current` after downgrade -1

    flow.alembic("upgrade", "head")
    flow.assert_tables(before)
    flow.assert_check_is_clean()

    change.apply(variant)
    existing = flow.revision_files()
    flow.alembic("revision", "--autogenerate", "-m", "day two change")
    (revision,) = flow.revision_files() - existing
    assert operations(revision, "upgrade") == change.upgrade, revision.read_text()
    assert operations(revision, "downgrade") == change.downgrade, revision.read_text()
    assert schema_names_in(revision, [*flow.schemas, "public"]) == [], revision.read_text()
    variant.run("ruff", "check", ".")
    variant.run("ruff", "format", "--check", ".")
    # mypy only reads the revision and the package; the database steps go on beside it.
    background = ThreadPoolExecutor(max_workers=1)
    typed = background.submit(variant.run, "mypy", str(revision.relative_to(variant.project)))
    background.shutdown(wait=False)
    head = ast.literal_eval(
        next(line for line in revision.read_text().splitlines() if line.startswith("revision"))
        .split("=", 1)[1]
        .strip()
    )

    flow.alembic("upgrade", "head")
    flow.assert_tables(before | change.tables)
    if change.column:
        table, column = change.column
        assert {s for s, cols in flow.columns(table).items() if column in cols} == set(
            flow.schemas
        )
    flow.assert_check_is_clean()

    flow.alembic("downgrade", "-1")
    flow.assert_tables(before)
    if change.column:
        assert all(change.column[1] not in cols for cols in flow.columns(table).values())

    if flow.tenants:
        # One tenant at a time, and `current` per tenant.
        flow.alembic("-x", "tenant=acme", "upgrade", "head")
        assert flow.alembic("current").split() == [head, "(head)", *previous]
        assert flow.alembic("-x", "tenant=globex", "current").split() == previous
        assert "Target database is not up to date" in flow.failing_alembic("check")
        tables = flow.tables()
        assert tables["tenant_acme"] == {"alembic_version", *before, *change.tables}
        assert tables["tenant_globex"] == {"alembic_version", *before}

    flow.alembic("upgrade", "head")
    flow.assert_tables(before | change.tables)
    flow.assert_check_is_clean()

    schemas = flow.schemas
    if flow.tenants:
        # A tenant created after the new revision gets every revision.
        cli = variant.run(
            "python", "-m", f"{variant.package}.cli", "create-tenant", LATE_TENANT, **flow.env
        )
        assert f"tenant {LATE_TENANT}" in cli.stdout
        schemas = [*schemas, f"tenant_{LATE_TENANT}"]
        flow.assert_tables(before | change.tables, schemas)
        late = flow.alembic("-x", f"tenant={LATE_TENANT}", "current").split()
        assert late == [head, "(head)"]
        flow.env["TENANTS"] = ",".join([*TENANTS, LATE_TENANT])
        flow.assert_check_is_clean()

    flow.alembic("downgrade", "base")
    flow.assert_tables(set(), schemas)
    assert flow.alembic("current").split() == []
    typed.result()  # raises with mypy's output if the revision does not type-check
    figure(f"workflow in {time.monotonic() - started:.1f} s")


def hand_written_revision(variant: InstalledVariant) -> None:
    """A revision that alters ``items`` (it needs an ACCESS EXCLUSIVE lock)."""
    path = variant.project / "migrations" / "versions" / "0002_add_sku.py"
    path.write_text(
        '"""Add items.sku."""\n\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        'revision = "0002"\ndown_revision = "0001"\n\n\n'
        "def upgrade() -> None:\n"
        '    op.add_column("items", sa.Column("sku", sa.String(40), nullable=True))\n\n\n'
        "def downgrade() -> None:\n"
        '    op.drop_column("items", "sku")\n',
        encoding="utf-8",
    )


async def migrate_while_reading(
    variant: InstalledVariant, env: dict[str, str], base_url: str
) -> tuple[asyncio.subprocess.Process, str, float, list[tuple[int, float]]]:
    """Run ``alembic upgrade head`` while reading ``/api/items`` until it ends."""
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        uv_bin(),
        "run",
        "--no-sync",
        "alembic",
        "upgrade",
        "head",
        cwd=variant.project,
        env=clean_env(**env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    reads: list[tuple[int, float]] = []

    async def reader(client: httpx.AsyncClient) -> None:
        while process.returncode is None:
            sent = time.monotonic()
            response = await client.get("/api/items")
            reads.append((response.status_code, time.monotonic() - sent))
            await asyncio.sleep(0.05)

    async with httpx.AsyncClient(base_url=base_url, timeout=30, verify=TLS) as client:
        readers = [asyncio.create_task(reader(client)) for _ in range(4)]
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
        elapsed = time.monotonic() - started
        await asyncio.gather(*readers)
    return process, stderr.decode(), elapsed, reads


@pytest.mark.parametrize("mode", ["default", "custom"])
def test_migration_gives_up_on_a_held_lock_while_the_app_keeps_serving(
    mode: str, tmp_path: Path, pg_admin_url: str, figure
) -> None:
    variant = InstalledVariant.install(variant_answers(mode, "y"), tmp_path)
    with migrated_database(pg_admin_url, variant) as database:
        flow = Workflow(variant, pg_admin_url, database.name)
        hand_written_revision(variant)

        async def scenario():
            holder = await database.connect()
            try:
                # A long transaction that has read the table (a report, a stuck handler).
                transaction = holder.transaction()
                await transaction.start()
                await holder.fetchval("SELECT count(*) FROM items")
                with variant.serve(tmp_path / "server.log", database.app_url) as app:
                    outcome = await migrate_while_reading(variant, flow.env, app.base_url)
                    app.assert_clean_log()
                await transaction.rollback()
            finally:
                await holder.close()
            return outcome

        process, stderr, elapsed, reads = asyncio.run(scenario())
        assert process.returncode != 0, stderr
        assert "Traceback" not in stderr, stderr
        assert "rolled back: a lock was not granted within" in stderr, stderr
        assert f"DATABASE_MIGRATION_LOCK_TIMEOUT={LOCK_TIMEOUT:g} s" in stderr, stderr
        assert "ALTER TABLE items ADD COLUMN sku" in stderr, stderr
        # Nothing applied: the revision is still pending and the column absent.
        assert "0001" in flow.alembic("current")
        assert all("sku" not in cols for cols in flow.columns("items").values())

        statuses = {status for status, _ in reads}
        slowest = max(seconds for _, seconds in reads)
        assert statuses == {200}, reads
        # Reads queued behind the waiting ALTER, and no longer than its lock_timeout.
        assert 1.0 < slowest < LOCK_TIMEOUT + 1.5, reads

        flow.alembic("upgrade", "head")
        assert {s for s, cols in flow.columns("items").items() if "sku" in cols} == {
            variant.schema
        }
    figure(
        f"migration failed after {elapsed:.1f} s (lock_timeout {LOCK_TIMEOUT:g} s);"
        f" {len(reads)} reads all 200, slowest {slowest:.2f} s"
    )
