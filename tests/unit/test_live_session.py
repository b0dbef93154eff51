"""LiveSession's PCM input (bounded, never blocking), the labeller seam and the registry.

The session runs with the real VadRecognizer (Silero VAD) and a scripted transcribe
function (tests/unit/recognizer_driver.py); usage and audit go to a host written from the
contract alone (tests/support/bare_host.py).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client import REGISTRY

from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.backends.recognizer import VadRecognizer
from scaiecho_module.config import StreamSettings
from scaiecho_module.errors import ScaiEchoError
from scaiecho_module.host_contract import Principal
from scaiecho_module.live.events import AudioDropped, Behind, CaughtUp, LiveEvent, SessionEnded
from scaiecho_module.live.meter import LiveMeter
from scaiecho_module.live.registry import LiveRegistry
from scaiecho_module.live.request import OpenRequest
from scaiecho_module.live.session import LiveSession
from scaiecho_module.transcript import Delta
from tests.support.bare_host import BareHost
from tests.unit import synth
from tests.unit.recognizer_driver import Script

TENANT = Principal("tenant-1", "user-1", frozenset({"scaiecho:transcribe"}))


class _Recorder:
    """A labeller of the test's own: keeps what the stage hands over, labels nothing."""

    def __init__(self) -> None:
        self.seen: list[tuple[Delta, AudioArray]] = []
        self.heard = 0
        self.closed = False

    def hear(self, audio: AudioArray) -> None:
        self.heard += len(audio)

    async def close(self) -> None:
        self.closed = True

    async def label(self, final: Delta, audio: AudioArray, since: float | None = None) -> list[Delta]:
        self.seen.append((final, audio))
        return [final]


def _session(
    host: BareHost,
    principal: Principal = TENANT,
    backlog: float = 5.0,
    labeller: Any = None,
    behind: float = 3.0,
    transport: str = "websocket",
) -> tuple[LiveSession, list[tuple[str, dict[str, Any]]]]:
    audits: list[tuple[str, dict[str, Any]]] = []

    async def audit(event: str, details: dict[str, Any]) -> None:
        audits.append((event, details))

    session_id = f"s-{len(host.usage)}-{id(audits)}"
    settings = StreamSettings(max_backlog_seconds=backlog, behind_seconds=behind)
    session = LiveSession(
        session_id, principal, "A", OpenRequest("audio/pcm"), VadRecognizer(Script(), chunk_seconds=4.0),
        settings, LiveMeter(host, principal, session_id, 3600.0), audit, labeller=labeller,
        transport=transport,
    )  # fmt: skip
    return session, audits


async def _drain(session: LiveSession) -> list[LiveEvent]:
    return [event async for event in session.events()]


@pytest.fixture
def host(tmp_path: Path) -> BareHost:
    return BareHost(tmp_path / "host.db")


def test_pcm_beyond_the_buffer_is_dropped_counted_reported_once_and_not_metered(host: BareHost) -> None:
    async def main() -> list[LiveEvent]:
        session, _ = _session(host, backlog=5.0)
        for block in synth.blocks(synth.speech(12.0), 1.0):
            session.push(block)  # never awaits: the recogniser has not run yet, the buffer fills
        await session.close()
        return await _drain(session)

    events = asyncio.run(main())
    dropped = [e for e in events if isinstance(e, AudioDropped)]
    ended = events[-1]
    assert isinstance(ended, SessionEnded)
    assert len(dropped) == 1  # one notice per overflow, not one per block
    assert ended.dropped_seconds == pytest.approx(7.0)
    assert ended.audio_seconds == pytest.approx(5.0)
    assert [q for _, _, q in host.usage] == [pytest.approx(5.0)]


def test_behind_is_told_once_per_episode_with_the_backlog_and_caught_up_at_half(host: BareHost) -> None:
    async def main() -> list[LiveEvent]:
        session, _ = _session(host, backlog=30.0, behind=1.0)
        for _episode in range(2):
            for block in synth.blocks(synth.speech(3.0), 0.5):
                session.push(block)  # the recogniser has not run yet: 3 s wait, once told
            while session._backlog:  # let the recogniser drain it
                await asyncio.sleep(0.01)
        await session.close()
        return await _drain(session)

    events = asyncio.run(main())
    notices = [e for e in events if isinstance(e, Behind | CaughtUp)]
    assert [type(e) for e in notices] == [Behind, CaughtUp, Behind, CaughtUp]
    # Told when the backlog first passed 1 s: at the third half-second block.
    assert [e.backlog_seconds for e in notices if isinstance(e, Behind)] == [1.5, 1.5]
    assert isinstance(events[-1], SessionEnded)
    assert events[-1].audio_seconds == pytest.approx(6.0)


def test_the_labeller_gets_each_final_with_exactly_its_audio(host: BareHost) -> None:
    labeller = _Recorder()

    async def main() -> list[LiveEvent]:
        session, _ = _session(host, backlog=30.0, labeller=labeller)
        audio, _ = synth.timeline(("speech", 2.0), ("silence", 1.0), ("speech", 2.5), ("silence", 1.0))
        for block in synth.blocks(audio, 0.5):
            await session.feed((block * 32767).astype("<i2").tobytes())
        await session.close()
        return await _drain(session)

    events = asyncio.run(main())
    finals = [e for e in events if isinstance(e, Delta) and e.is_final]
    assert len(finals) == 2
    assert [f for f, _ in labeller.seen] == finals  # every final, nothing else, in order
    for final, audio in labeller.seen:
        assert len(audio) == int(final.end * SAMPLE_RATE) - int(final.start * SAMPLE_RATE)
        assert np.abs(audio).max() > 0.01  # speech, not the silence around it
    # It heard all of the session's audio as it came, and was closed at the session's end.
    assert labeller.heard == int(6.5 * SAMPLE_RATE) and labeller.closed


class _SlowSplitter(_Recorder):
    """Labels each final in 0.3 s, as two parts (a change of speaker inside it)."""

    async def label(self, final: Delta, audio: AudioArray, since: float | None = None) -> list[Delta]:
        await asyncio.sleep(0.3)
        middle = (final.start + final.end) / 2
        return [replace(final, end=middle), replace(final, start=middle)]


def _final_seconds(transport: str) -> tuple[float, float]:
    labels = {"transport": transport}
    count = REGISTRY.get_sample_value("scaiecho_live_final_seconds_count", labels) or 0.0
    return count, REGISTRY.get_sample_value("scaiecho_live_final_seconds_sum", labels) or 0.0


def test_each_final_is_timed_from_its_audio_arriving_to_it_leaving_by_transport(host: BareHost) -> None:
    async def main() -> list[LiveEvent]:
        session, _ = _session(host, backlog=30.0, labeller=_SlowSplitter(), transport="webrtc")
        audio, _ = synth.timeline(("speech", 2.0), ("silence", 1.0), ("speech", 2.5), ("silence", 1.0))
        for block in synth.blocks(audio, 0.1):
            session.push(block)
            await asyncio.sleep(0.01)
        await session.close()
        return await _drain(session)

    before = _final_seconds("webrtc"), _final_seconds("websocket")
    started = time.monotonic()
    events = asyncio.run(main())
    wall = time.monotonic() - started
    finals = [e for e in events if isinstance(e, Delta) and e.is_final]
    assert len(finals) == 4  # two utterances, each split in two
    (count, total), websocket = _final_seconds("webrtc"), _final_seconds("websocket")
    assert count - before[0][0] == 2  # a split utterance counts once
    # Each waited for its label (0.3 s) after its audio came, and none longer than the run.
    assert 2 * 0.3 <= total - before[0][1] < 2 * wall
    assert websocket == before[1]  # labelled by the session's own transport only


def test_the_registry_finds_a_session_for_its_own_tenant_only(host: BareHost) -> None:
    other = Principal("tenant-2", "user-2", frozenset({"scaiecho:transcribe"}))

    async def main() -> None:
        registry = LiveRegistry(max_sessions=4, max_per_tenant=2)
        registry.admit(TENANT.tenant_id)
        session, _ = _session(host)
        registry.add(session)
        assert registry.get(session.id, TENANT) is session
        registry.admit(TENANT.tenant_id)  # the registered session holds one place, not two
        with pytest.raises(ScaiEchoError):
            registry.admit(TENANT.tenant_id)
        with pytest.raises(ScaiEchoError) as info:
            registry.get(session.id, other)
        assert (info.value.kind.code, info.value.kind.http_status) == ("NOT_FOUND", 404)
        await session.abort("client_gone")

    asyncio.run(main())


def test_admission_counts_sessions_being_opened_per_tenant_and_per_process() -> None:
    registry = LiveRegistry(max_sessions=3, max_per_tenant=2)
    registry.admit("a")
    registry.admit("a")
    with pytest.raises(ScaiEchoError) as info:
        registry.admit("a")
    assert (info.value.kind.code, info.value.kind.close_code, info.value.details["scope"]) == (
        "TOO_MANY_SESSIONS", 4429, "tenant",
    )  # fmt: skip
    registry.admit("b")
    with pytest.raises(ScaiEchoError) as info:
        registry.admit("c")
    assert info.value.details == {"scope": "server", "limit": 3}
    registry.release("a")
    registry.admit("c")  # a released place is free again
