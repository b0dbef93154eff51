"""Build a database in the legacy migration layout (one tree, revisions 0001/0002)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

LEGACY_DIR = Path(__file__).resolve().parent


def upgrade_legacy(database_url: str, revision: str = "0002") -> None:
    config = Config()
    config.set_main_option("script_location", str(LEGACY_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.upgrade(config, revision)
