"""The unit ScaiEcho meters usage in, as declared to the host, and the one helper that records it."""

import logging
from typing import Literal

from scaiecho_module import metrics
from scaiecho_module.aio import to_completion
from scaiecho_module.errors import BUDGET_EXHAUSTED, ScaiEchoError
from scaiecho_module.host_contract import Accounting, BudgetExhaustedError, MeteringUnit

logger = logging.getLogger("scaiecho.metering")

AUDIO_SECONDS = MeteringUnit(
    name="scaiecho.audio_seconds",
    description="Seconds of audio transcribed (file, stream or job)",
    unit="second",
)
# Metered on top of AUDIO_SECONDS for the audio that speaker diarization actually ran on, so
# a host can price "who said what" separately. Never recorded when diarize was asked but
# skipped (Backend B, no speaker node): the audio seconds alone are charged then.
DIARIZED_AUDIO_SECONDS = MeteringUnit(
    name="scaiecho.diarized_audio_seconds",
    description="Seconds of audio diarized (speaker labels), in addition to audio seconds",
    unit="second",
)
METERING_UNITS = (AUDIO_SECONDS, DIARIZED_AUDIO_SECONDS)

# The usage row's reference is the host's idempotency key (unique across units): the
# diarized seconds of work ``reference`` are recorded under this one.
DIARIZED_REFERENCE_SUFFIX = ":diarized"


async def require_audio_budget(accounting: Accounting, tenant_id: str, seconds: float) -> None:
    """The host's budget check in the module's error language (402 / close 4402)."""
    try:
        await accounting.ensure_budget(tenant_id, AUDIO_SECONDS.name, seconds)
    except BudgetExhaustedError as exc:
        raise ScaiEchoError(BUDGET_EXHAUSTED, "the tenant's budget for audio seconds is exhausted") from exc


async def hold_audio_budget(
    accounting: Accounting,
    tenant_id: str,
    seconds: float,
    reference: str,
    *,
    ttl_seconds: float | None = None,
) -> None:
    """Reserve ``seconds`` before the work runs (402 / close 4402 when they do not fit).

    The hold is what makes a budget hold under concurrency: ten requests checked at once
    would each see the whole budget; ten holds see each other.
    """
    try:
        await to_completion(
            accounting.hold(tenant_id, AUDIO_SECONDS.name, seconds, reference, ttl_seconds=ttl_seconds)
        )
    except BudgetExhaustedError as exc:
        raise ScaiEchoError(
            BUDGET_EXHAUSTED,
            "the tenant's budget for audio seconds is exhausted",
            {"remaining_seconds": round(max(exc.remaining, 0.0), 3)},
        ) from exc


async def release_audio_hold(accounting: Accounting, reference: str) -> None:
    """Drop a hold for work that did not run; a failure only delays the budget (holds expire)."""
    try:
        await to_completion(accounting.release(reference))  # runs while the request is being cancelled too
    except Exception:
        logger.exception("could not release budget hold %s; it lapses at its expiry", reference)


async def record_audio_usage(
    accounting: Accounting,
    tenant_id: str,
    user_id: str | None,
    seconds: float,
    reference: str,
    *,
    mode: Literal["sync", "job", "stream"],
    backend: str,
) -> None:
    """Meter ``seconds`` with the host and count them in ``scaiecho_audio_seconds``.

    The host settles the hold of the same ``reference`` with it (see :func:`hold_audio_budget`).

    The one place usage is recorded: the ledger row and the metric take the same value, and
    the metric moves only once the host has accepted the usage, so the two cannot drift.
    """
    await to_completion(
        accounting.record_usage(
            tenant_id, user_id, AUDIO_SECONDS.name, seconds, reference, {"backend": backend, "mode": mode}
        )
    )
    metrics.AUDIO_SECONDS.labels(mode, backend).inc(seconds)


async def record_diarized_usage(
    accounting: Accounting,
    tenant_id: str,
    user_id: str | None,
    seconds: float,
    reference: str,
    *,
    mode: Literal["sync", "job", "stream"],
) -> None:
    """Meter ``seconds`` of diarized audio (after :func:`record_audio_usage` of the same work).

    No hold backs it: diarization is priced on top of audio seconds, and the budget a host
    enforces is the audio one. Idempotent per ``reference`` like audio usage.
    """
    await to_completion(
        accounting.record_usage(
            tenant_id,
            user_id,
            DIARIZED_AUDIO_SECONDS.name,
            seconds,
            reference + DIARIZED_REFERENCE_SUFFIX,
            {"mode": mode},
        )
    )
    metrics.DIARIZED_SECONDS.labels(mode).inc(seconds)
