"""The speaker tables as the speaker services read them: tenant-scoped, tombstones hidden."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from scaiecho_module.errors import NOT_FOUND, VALIDATION_ERROR, ScaiEchoError
from scaiecho_module.speakers.models import ConsentRecord, SpeakerProfile


def blob_key(tenant_id: str, speaker_id: uuid.UUID, recording: str) -> str:
    return f"scaiecho/speakers/{tenant_id}/{speaker_id}/{recording}"


def parse_id(speaker_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(speaker_id)
    except ValueError:
        raise ScaiEchoError(NOT_FOUND, "no such speaker") from None


class SpeakerStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def live(self, tenant_id: str, speaker_id: str) -> SpeakerProfile:
        """The tenant's profile, not erased; another tenant's or an erased one is 404."""
        parsed = parse_id(speaker_id)
        async with self.sessions() as session:
            profile = await session.scalar(
                select(SpeakerProfile).where(
                    SpeakerProfile.id == parsed,
                    SpeakerProfile.tenant_id == tenant_id,
                    SpeakerProfile.erased_at.is_(None),
                )
            )
        if profile is None:
            raise ScaiEchoError(NOT_FOUND, "no such speaker")
        return profile

    async def consent(self, speaker_id: uuid.UUID) -> ConsentRecord | None:
        async with self.sessions() as session:
            found: ConsentRecord | None = await session.scalar(
                select(ConsentRecord).where(ConsentRecord.speaker_id == speaker_id)
            )
            return found

    async def erased(self, speaker_id: uuid.UUID) -> bool:
        """Whether the profile is tombstoned (or gone): read fresh, never from a cached row."""
        async with self.sessions() as session:
            row = await session.execute(
                select(SpeakerProfile.erased_at).where(SpeakerProfile.id == speaker_id)
            )
            found = row.first()
        return found is None or found[0] is not None

    async def live_names(self, tenant_id: str, speaker_ids: Iterable[str]) -> dict[str, str]:
        """Display names of those of ``speaker_ids`` that are the tenant's and not erased, read
        fresh (a node may still hold an erased speaker until the reconciler evicts it)."""
        parsed = set()
        for speaker_id in speaker_ids:
            try:
                parsed.add(uuid.UUID(speaker_id))
            except ValueError:
                continue
        if not parsed:
            return {}
        async with self.sessions() as session:
            rows = await session.execute(
                select(SpeakerProfile.id, SpeakerProfile.display_name).where(
                    SpeakerProfile.id.in_(parsed),
                    SpeakerProfile.tenant_id == tenant_id,
                    SpeakerProfile.erased_at.is_(None),
                )
            )
            return {str(row[0]): row[1] for row in rows}

    async def set_status(self, speaker_id: uuid.UUID, status: str, code: str | None = None) -> None:
        async with self.sessions.begin() as session:
            await self.set_status_in(session, speaker_id, status, code)

    @staticmethod
    async def set_status_in(
        session: AsyncSession, speaker_id: uuid.UUID, status: str, code: str | None
    ) -> None:
        # Never on a tombstone: an erased profile's status is final.
        await session.execute(
            update(SpeakerProfile)
            .where(SpeakerProfile.id == speaker_id, SpeakerProfile.erased_at.is_(None))
            .values(status=status, status_code=code)
        )

    async def mark_checked(self, speaker_id: uuid.UUID, checks: list[dict[str, Any]]) -> None:
        """Replace the preflight's deferred (``not_checked``) verdicts with ``checks``."""
        async with self.sessions.begin() as session:
            profile = await session.get(SpeakerProfile, speaker_id, with_for_update=True)
            if profile is None or profile.erased_at is not None:
                return
            by_name = {check["check"]: check for check in checks}
            block = dict(profile.preflight or {})
            block["checks"] = [by_name.get(check["check"], check) for check in block.get("checks", [])]
            profile.preflight = block

    async def page(
        self, tenant_id: str, limit: int, cursor: str | None
    ) -> tuple[list[SpeakerProfile], str | None]:
        if not 1 <= limit <= 100:
            raise ScaiEchoError(VALIDATION_ERROR, "limit must be between 1 and 100", {"field": "limit"})
        query = select(SpeakerProfile).where(
            SpeakerProfile.tenant_id == tenant_id, SpeakerProfile.erased_at.is_(None)
        )
        if cursor:
            created, last_id = _decode_cursor(cursor)
            query = query.where(
                or_(
                    SpeakerProfile.created_at < created,
                    and_(SpeakerProfile.created_at == created, SpeakerProfile.id < last_id),
                )
            )
        query = query.order_by(SpeakerProfile.created_at.desc(), SpeakerProfile.id.desc()).limit(limit + 1)
        async with self.sessions() as session:
            rows = list(await session.scalars(query))
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, _encode_cursor(rows[-1]) if more else None

    async def all_live(self) -> list[SpeakerProfile]:
        """Every tenant's live profiles (the reconciler's view of what nodes should hold)."""
        async with self.sessions() as session:
            return list(
                await session.scalars(select(SpeakerProfile).where(SpeakerProfile.erased_at.is_(None)))
            )

    async def unfinished_erasures(self, before: datetime) -> list[SpeakerProfile]:
        """Tombstones from before ``before`` whose recordings are still stored (a process died
        mid-erasure; younger ones may still be finishing in their own request)."""
        async with self.sessions() as session:
            return list(
                await session.scalars(
                    select(SpeakerProfile).where(
                        SpeakerProfile.erased_at < before,
                        or_(
                            SpeakerProfile.reference_blob_key.is_not(None),
                            SpeakerProfile.consent_blob_key.is_not(None),
                        ),
                    )
                )
            )


def _encode_cursor(profile: SpeakerProfile) -> str:
    return base64.urlsafe_b64encode(f"{profile.created_at.isoformat()}|{profile.id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        if len(cursor) > 200:
            raise ValueError(cursor)
        created, speaker_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        created_at = datetime.fromisoformat(created)
        if created_at.tzinfo is None:
            raise ValueError(created)
        return created_at, uuid.UUID(speaker_id)
    except (ValueError, UnicodeDecodeError):
        raise ScaiEchoError(
            VALIDATION_ERROR, "cursor is not one this API returned", {"field": "cursor"}
        ) from None
