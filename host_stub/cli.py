"""``scaigrid-stub``: operate the stub host (migrate, tenants, users and keys, budgets, serve)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import select

from host_stub import identity
from host_stub.access_log import RedactSecretsFilter
from host_stub.accounting import set_budget
from host_stub.config import HostSettings
from host_stub.db import StubDatabase
from host_stub.models import ApiKey, Tenant, User

T = TypeVar("T")
DEV_TENANT = "dev"
DEV_EMAIL = "dev@localhost"


def _run(settings: HostSettings, work: Callable[[StubDatabase], Awaitable[T]]) -> T:
    async def main() -> T:
        database = StubDatabase(settings.database_url)
        try:
            return await work(database)
        finally:
            await database.close()

    return asyncio.run(main())


def _settings(ctx: click.Context) -> HostSettings:
    settings: HostSettings = ctx.obj
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(ctx: click.Context) -> None:
    """Operate the ScaiGrid stub host. Configuration: SCAIGRID_* environment variables."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecretsFilter())
    try:
        ctx.obj = HostSettings.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _registered(settings: HostSettings) -> tuple[set[str], set[str]]:
    """Permissions and metering units the installed modules declare (loading them registers both)."""
    from host_stub.app import create_app

    host = create_app(settings).state["host"]
    return set(host.identity.permissions), set(host.accounting.units)


@main.command()
@click.option(
    "--revision",
    default="head",
    show_default=True,
    help="Alembic revision of the stub host's own tables to upgrade to.",
)
@click.pass_context
def migrate(ctx: click.Context, revision: str) -> None:
    """Apply database migrations: the stub host's tables, then every installed module's.

    Each module's tables go to its newest revision. A database of the legacy single tree
    (revision 0001 or 0002) is adopted in place first.
    """
    from host_stub.migrate import upgrade

    settings = _settings(ctx)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    done = upgrade(settings.database_url, revision)
    click.echo(f"database: {', '.join(done)}")


@main.group()
def tenant() -> None:
    """Manage tenants."""


@tenant.command("create")
@click.argument("slug")
@click.option("--name", default=None, help="Display name (defaults to the slug).")
@click.pass_context
def tenant_create(ctx: click.Context, slug: str, name: str | None) -> None:
    """Create tenant SLUG (no-op if it exists) and print its id."""

    async def work(db: StubDatabase) -> str:
        async with db.session_factory.begin() as session:
            return str((await identity.ensure_tenant(session, slug, name)).id)

    click.echo(_run(_settings(ctx), work))


@main.group()
def user() -> None:
    """Manage users and their API keys."""


@user.command("create")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug (created if missing).")
@click.option("--email", required=True, help="User email, unique within the tenant.")
@click.option("--permission", "permissions", multiple=True, help="Permission to grant; repeat for several.")
@click.option("--label", default="", help="A label for the new API key.")
@click.pass_context
def user_create(
    ctx: click.Context, tenant_slug: str, email: str, permissions: tuple[str, ...], label: str
) -> None:
    """Create (or reuse) a user, grant permissions, and print a new API key once."""
    known, _ = _registered(_settings(ctx))
    unknown = sorted(set(permissions) - known)
    if unknown:
        raise click.BadParameter(
            f"unknown {', '.join(unknown)}; known: {', '.join(sorted(known))}", param_hint="--permission"
        )

    async def work(db: StubDatabase) -> identity.IssuedKey:
        return await identity.create_user_with_key(db.session_factory, tenant_slug, email, permissions, label)

    issued = _run(_settings(ctx), work)
    click.echo(issued.key)
    click.echo("(store it now: only its hash is kept)", err=True)


@main.group()
def budget() -> None:
    """Manage tenant budgets."""


@budget.command("set")
@click.option("--tenant", "tenant_slug", required=True)
@click.option("--unit", default="scaiecho.audio_seconds", show_default=True, help="Metering unit.")
@click.option("--limit", type=float, default=None, help="Total quantity the tenant may use.")
@click.option("--unlimited", is_flag=True, help="Remove the limit.")
@click.pass_context
def budget_set(ctx: click.Context, tenant_slug: str, unit: str, limit: float | None, unlimited: bool) -> None:
    """Set (or remove) a tenant's limit on one metering unit."""
    if (limit is None) == (not unlimited):
        raise click.UsageError("give exactly one of --limit N or --unlimited")
    _, units = _registered(_settings(ctx))
    if unit not in units:
        raise click.BadParameter(
            f"unknown unit {unit!r}; known: {', '.join(sorted(units))}", param_hint="--unit"
        )

    async def work(db: StubDatabase) -> None:
        async with db.session_factory.begin() as session:
            row = await session.scalar(select(Tenant).where(Tenant.slug == tenant_slug))
            if row is None:
                raise click.ClickException(f"no tenant {tenant_slug!r}")
            await set_budget(session, row.id, unit, None if unlimited else limit)

    _run(_settings(ctx), work)
    click.echo(f"{tenant_slug}: {unit} = {'unlimited' if unlimited else limit}")


@main.group()
def key() -> None:
    """List and revoke API keys."""


@key.command("list")
@click.option("--tenant", "tenant_slug", required=True)
@click.pass_context
def key_list(ctx: click.Context, tenant_slug: str) -> None:
    """List a tenant's keys: prefix, user, label, created, revoked."""

    async def work(db: StubDatabase) -> list[tuple[str, str, str, str, str]]:
        async with db.session_factory() as session:
            rows = await session.execute(
                select(ApiKey.prefix, User.email, ApiKey.label, ApiKey.created_at, ApiKey.revoked_at)
                .join(User, User.id == ApiKey.user_id)
                .join(Tenant, Tenant.id == User.tenant_id)
                .where(Tenant.slug == tenant_slug)
                .order_by(ApiKey.created_at)
            )
            return [(p, e, lbl, c.isoformat(), r.isoformat() if r else "-") for p, e, lbl, c, r in rows]

    for row in _run(_settings(ctx), work):
        click.echo("\t".join(row))


@key.command("revoke")
@click.argument("prefix")
@click.pass_context
def key_revoke(ctx: click.Context, prefix: str) -> None:
    """Revoke the one key whose shown prefix (from `key list`) starts with PREFIX."""

    async def work(db: StubDatabase) -> int:
        async with db.session_factory.begin() as session:
            matches = list(
                await session.scalars(
                    select(ApiKey).where(
                        ApiKey.prefix.startswith(prefix, autoescape=True), ApiKey.revoked_at.is_(None)
                    )
                )
            )
            if len(matches) == 1:
                matches[0].revoked_at = datetime.now(UTC)
            return len(matches)

    if len(prefix) < 8:
        raise click.BadParameter("give at least 8 characters of the prefix", param_hint="PREFIX")
    count = _run(_settings(ctx), work)
    if count != 1:
        raise click.ClickException(f"{count} active keys match {prefix!r}; nothing revoked")
    click.echo(f"revoked {prefix}")


@main.command("dev-setup")
@click.pass_context
def dev_setup(ctx: click.Context) -> None:
    """Idempotently prepare tenant 'dev' and print an API key holding every module permission.

    The key is kept in SCAIGRID_DATA_DIR/dev-api-key (mode 0600) so repeated runs print the same one.
    """
    from host_stub.app import create_app

    settings = _settings(ctx)
    app = create_app(settings)  # loading the modules registers their permissions
    permissions = sorted(app.state["host"].identity.permissions)
    key_file = settings.data_dir / "dev-api-key"

    async def work(db: StubDatabase) -> str:
        ident = identity.StubIdentity(db.session_factory)
        if key_file.exists():
            key = key_file.read_text().strip()
            principal = await ident.authenticate(key)
            if principal is not None:
                async with db.session_factory.begin() as session:
                    tenant_row = await identity.ensure_tenant(session, DEV_TENANT)
                    await identity.grant(
                        session, await identity.ensure_user(session, tenant_row, DEV_EMAIL), permissions
                    )
                return key
        issued = await identity.create_user_with_key(
            db.session_factory, DEV_TENANT, DEV_EMAIL, permissions, "dev"
        )
        _write_secret(key_file, issued.key)
        return issued.key

    key = _run(settings, work)
    click.echo(f"tenant: {DEV_TENANT}  user: {DEV_EMAIL}  permissions: {' '.join(permissions)}", err=True)
    click.echo(key)


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")


@main.command()
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run a queue worker (needs SCAIGRID_QUEUE_URL); run several for more throughput."""
    from host_stub.worker import run_worker

    settings = _settings(ctx)
    if not settings.queue_url:
        raise click.ClickException("set SCAIGRID_QUEUE_URL (redis://... or postgresql://...) to run workers")
    asyncio.run(run_worker(settings))


@main.command()
@click.option(
    "--host", "bind_host", default=None, help="Bind address (default SCAIGRID_BIND_HOST or 127.0.0.1)."
)
@click.option("--port", type=int, default=None, help="Port (default SCAIGRID_PORT or 8080).")
@click.pass_context
def serve(ctx: click.Context, bind_host: str | None, port: int | None) -> None:
    """Serve the host with every installed module (uvicorn; access log with tokens redacted)."""
    import uvicorn

    settings = _settings(ctx)
    log_config: dict[str, Any] = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "filters": {"redact": {"()": "host_stub.access_log.RedactSecretsFilter"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}
        },
        "root": {"handlers": ["stderr"], "level": settings.log_level.upper()},
    }
    from host_stub.protocol import GuardedH11Protocol
    from host_stub.ws_protocol import PromptResetWSProtocol

    GuardedH11Protocol.header_timeout = settings.header_timeout_seconds
    uvicorn.run(
        "host_stub.app:create_app",
        http=GuardedH11Protocol,
        factory=True,
        host=bind_host or settings.host,
        port=port or settings.port,
        access_log=False,  # uvicorn would print ?token=...; host_stub.access_log redacts it
        log_config=log_config,
        ws=PromptResetWSProtocol,  # uvicorn's websockets-sansio; a reset's disconnect comes first
        # Pings keep idle connections alive through proxies, but no pong deadline: a live
        # session under backpressure stops reading on purpose, and the pong then waits behind
        # megabytes of buffered audio. A deadline would close a healthy, busy socket with 1011;
        # the module's own idle timeout ends sessions whose client went quiet.
        ws_ping_interval=settings.ws_ping_seconds,
        ws_ping_timeout=None,
    )


if __name__ == "__main__":
    main()
