"""Identity: tenants, users, permission grants and ``sgk_`` API keys (stored as sha256 only)."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from host_stub.models import ApiKey, PermissionGrant, Tenant, User
from scaiecho_module.host_contract import Principal

logger = logging.getLogger("host_stub.identity")
KEY_PREFIX = "sgk_"
KEY_DISPLAY_CHARS = 12  # what `key list` shows and `key revoke` matches; 48 of the 256 bits


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    # Keys carry 256 bits of entropy, so a fast hash is enough (no password stretching needed).
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedKey:
    tenant_id: UUID
    user_id: UUID
    key: str


class StubIdentity:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self.permissions: dict[str, str] = {}

    def register_permissions(self, module_id: str, permissions: Mapping[str, str]) -> None:
        for name, description in permissions.items():
            if not name.startswith(f"{module_id}:"):
                raise ValueError(
                    f"module {module_id} may only register {module_id}:* permissions, not {name}"
                )
            self.permissions[name] = description

    async def authenticate(self, token: str) -> Principal | None:
        if not token.startswith(KEY_PREFIX):
            return None
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(ApiKey.user_id, User.tenant_id)
                    .join(User, User.id == ApiKey.user_id)
                    .where(ApiKey.key_hash == hash_api_key(token), ApiKey.revoked_at.is_(None))
                )
            ).first()
            if row is None:
                return None
            user_id, tenant_id = row
            grants = await session.scalars(
                select(PermissionGrant.permission).where(PermissionGrant.user_id == user_id)
            )
            return Principal(tenant_id=str(tenant_id), user_id=str(user_id), permissions=frozenset(grants))


async def ensure_tenant(session: AsyncSession, slug: str, name: str | None = None) -> Tenant:
    tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        tenant = Tenant(slug=slug, name=name or slug)
        session.add(tenant)
        await session.flush()
    return tenant


async def ensure_user(session: AsyncSession, tenant: Tenant, email: str) -> User:
    user = await session.scalar(select(User).where(User.tenant_id == tenant.id, User.email == email))
    if user is None:
        user = User(tenant_id=tenant.id, email=email)
        session.add(user)
        await session.flush()
    return user


async def grant(session: AsyncSession, user: User, permissions: Iterable[str]) -> None:
    have = set(
        await session.scalars(select(PermissionGrant.permission).where(PermissionGrant.user_id == user.id))
    )
    for permission in sorted(set(permissions) - have):
        session.add(PermissionGrant(user_id=user.id, permission=permission))
    await session.flush()


async def issue_key(session: AsyncSession, user: User, label: str = "") -> str:
    key = new_api_key()
    session.add(
        ApiKey(user_id=user.id, key_hash=hash_api_key(key), prefix=key[:KEY_DISPLAY_CHARS], label=label)
    )
    await session.flush()
    return key


async def create_user_with_key(
    sessions: async_sessionmaker[AsyncSession],
    tenant_slug: str,
    email: str,
    permissions: Iterable[str],
    label: str = "",
) -> IssuedKey:
    async with sessions.begin() as session:
        tenant = await ensure_tenant(session, tenant_slug)
        user = await ensure_user(session, tenant, email)
        await grant(session, user, permissions)
        key = await issue_key(session, user, label)
        return IssuedKey(tenant.id, user.id, key)
