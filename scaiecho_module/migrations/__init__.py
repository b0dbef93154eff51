"""ScaiEcho's database migrations: an Alembic branch of its own, shipped inside the package.

The module's tables (``scaiecho_*``) have their own revision scripts (``versions/``) and their
own version table, ``scaiecho_alembic_version``. A host applies them next to its own migrations,
with the Alembic it has, and neither side sees the other's revisions::

    from scaiecho_module import migrations

    migrations.upgrade("postgresql+asyncpg://user:secret@db/scaigrid")  # to the head
    migrations.downgrade(url, "base")  # drop the module's tables again

The target is a database URL (async drivers ``sqlite+aiosqlite`` and ``postgresql+asyncpg``, or
sync ones) or an open SQLAlchemy ``Connection``. With a connection the migrations run in the
caller's transaction, which the caller commits; from async code,
``await async_connection.run_sync(migrations.upgrade)`` does that. Hosts find this API through
the ``scaigrid.migrations`` entry point group (name ``scaiecho``). The module's tables hold the
host's tenant and user ids as opaque strings: no foreign key into the host's tables, so the
module's branch does not depend on the host's.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Connection

SCRIPT_LOCATION = Path(__file__).resolve().parent
VERSION_TABLE = "scaiecho_alembic_version"
TABLE_PREFIX = "scaiecho_"

UrlOrConnection = str | URL | Connection


def alembic_config(target: UrlOrConnection | None = None) -> Config:
    """An Alembic config for the module's branch, on a database URL or an open connection."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if isinstance(target, Connection):
        config.attributes["connection"] = target
    elif target is not None:
        url = target.render_as_string(hide_password=False) if isinstance(target, URL) else target
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # ConfigParser syntax
    return config


def head() -> str:
    """The newest revision of the module's branch (no database needed)."""
    found = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert found is not None
    return found


def upgrade(target: UrlOrConnection, revision: str = "head") -> None:
    """Create or upgrade the module's tables up to ``revision``."""
    command.upgrade(alembic_config(target), revision)


def downgrade(target: UrlOrConnection, revision: str) -> None:
    """Undo the module's revisions down to ``revision`` (``"base"`` drops every module table)."""
    command.downgrade(alembic_config(target), revision)


def stamp(target: UrlOrConnection, revision: str, *, purge: bool = False) -> None:
    """Record ``revision`` in ``scaiecho_alembic_version`` without running any migration.

    For a database whose module tables already exist at that revision (created some other way).
    """
    command.stamp(alembic_config(target), revision, purge=purge)
