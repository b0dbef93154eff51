"""Run the stub host's migrations, then every installed module's (``scaigrid-stub migrate``).

Each is an Alembic branch of its own with its own version table:

- the stub host's tables (``host_*``): ``migrations/`` at the top of the repository, recorded in
  ``alembic_version``;
- each module's tables: the module ships its branch and a small API (``upgrade``, ``downgrade``,
  ``stamp``), found through the ``scaigrid.migrations`` entry point group. ScaiEcho's is
  ``scaiecho_module.migrations``, recorded in ``scaiecho_alembic_version``.

Databases migrated before the split hold ONE tree, revision ``0001`` or ``0002``, in
``alembic_version``, with the very tables the new branches create. ``adopt_legacy_layout`` finds
that revision and stamps the matching revision of each branch (no table is touched), so the
next upgrade carries on from there with every row kept.
"""

from __future__ import annotations

import asyncio
import logging
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol, cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from host_stub.db import make_engine

logger = logging.getLogger("host_stub.migrate")

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
HOST_VERSION_TABLE = "alembic_version"
HOST_TABLE_PREFIX = "host_"
MIGRATIONS_GROUP = "scaigrid.migrations"

# The legacy single tree's revisions -> (the host branch's revision, each module's revision)
# holding exactly the tables that legacy revision had created.
LEGACY_REVISIONS: dict[str, tuple[str, dict[str, str]]] = {
    "0001": ("host_0001", {"scaiecho": "scaiecho_0001"}),
    "0002": ("host_0001", {"scaiecho": "scaiecho_0002"}),
}


class ModuleMigrations(Protocol):
    """What a module's ``scaigrid.migrations`` entry point gives a host."""

    def upgrade(self, target: str, revision: str = "head") -> None: ...

    def downgrade(self, target: str, revision: str) -> None: ...

    def stamp(self, target: str, revision: str) -> None: ...


def alembic_config(database_url: str) -> Config:
    """The config of the host's own branch."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def installed_modules() -> list[tuple[str, ModuleMigrations]]:
    """Every installed module's migrations API, by module name."""
    found = sorted(entry_points(group=MIGRATIONS_GROUP), key=lambda entry: entry.name)
    return [(entry.name, cast(ModuleMigrations, entry.load())) for entry in found]


def _host_heads(database_url: str) -> tuple[str, ...]:
    def read(connection: Connection) -> tuple[str, ...]:
        context = MigrationContext.configure(connection, opts={"version_table": HOST_VERSION_TABLE})
        return tuple(context.get_current_heads())

    async def main() -> tuple[str, ...]:
        engine = make_engine(database_url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def adopt_legacy_layout(database_url: str) -> str | None:
    """Stamp a database of the legacy single tree into the branches; return the legacy revision.

    The modules are stamped first and the host's ``alembic_version`` last, so an interrupted
    adoption is simply done again by the next run. Returns None (and does nothing) otherwise.
    """
    heads = _host_heads(database_url)
    legacy = [head for head in heads if head in LEGACY_REVISIONS]
    if not legacy:
        return None
    if len(heads) != 1:
        raise RuntimeError(f"{HOST_VERSION_TABLE} holds {heads}: a legacy revision next to others")
    [revision] = legacy
    host_revision, module_revisions = LEGACY_REVISIONS[revision]
    modules = dict(installed_modules())
    for name, module_revision in module_revisions.items():
        if name not in modules:
            raise RuntimeError(f"legacy revision {revision} holds module {name}'s tables; install it")
        modules[name].stamp(database_url, module_revision)
    command.stamp(alembic_config(database_url), host_revision, purge=True)
    logger.info(
        "adopted legacy revision %s: host at %s, %s",
        revision,
        host_revision,
        ", ".join(f"{name} at {rev}" for name, rev in module_revisions.items()),
    )
    return revision


def upgrade(database_url: str, revision: str = "head") -> list[str]:
    """The host's tables up to ``revision``, then every installed module's to its head.

    Returns what was migrated, for the CLI to print.
    """
    adopt_legacy_layout(database_url)
    command.upgrade(alembic_config(database_url), revision)
    done = [f"host at {revision}"]
    for name, module in installed_modules():
        module.upgrade(database_url)
        done.append(f"{name} at head")
    return done


def downgrade(database_url: str, revision: str) -> None:
    """The host's tables down to ``revision``; with ``base``, every module's go to base first.

    A module's own revisions are downgraded through its API (``scaiecho_module.migrations``).
    """
    adopt_legacy_layout(database_url)
    if revision == "base":
        for _, module in reversed(installed_modules()):
            module.downgrade(database_url, "base")
    command.downgrade(alembic_config(database_url), revision)
