"""Live sessions behind real time: the `info` BEHIND frame, once per episode, and CAUGHT_UP.

A served stub host with a small behind threshold (SCAIECHO_STREAM_BEHIND_SECONDS = 1), real
speech. Deterministic case: a client pushing faster than real time is behind as soon as its
first utterance is decoded. Real-time case: many paced sessions on the 2-core machine; how
far behind they fall depends on the machine, so what is asserted is the contract: every final
arrives, the frames alternate BEHIND / CAUGHT_UP per session, and any final that came much
later than the threshold allows was preceded by BEHIND.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import SERVER_ENV, MakeCaller, caller_factory
from tests.support import recordings
from tests.support.servers import StubServer, stub_server
from tests.support.text import wer
from tests.support.ws import StreamResult, speech_samples, stream_pcm

BEHIND_SECONDS = 1.0
CLIPS = ("0870", "0890", "0920", "0930")
BEHIND_ENV = {
    **SERVER_ENV,
    "SCAIECHO_STREAM_BEHIND_SECONDS": str(BEHIND_SECONDS),
    "SCAIECHO_STREAM_MAX_SESSIONS": "16",
    "SCAIECHO_STREAM_MAX_SESSIONS_PER_TENANT": "16",
}


@pytest.fixture(scope="module")
def behind_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubServer]:
    with stub_server(database_url, tmp_path_factory.mktemp("behind"), BEHIND_ENV) as running:
        yield running


@pytest.fixture
def make_behind(behind_server: StubServer) -> MakeCaller:
    return caller_factory(behind_server)


def _notices(result: StreamResult) -> list[dict[str, object]]:
    return [i for i in result.of("info") if i["code"] in {"BEHIND", "CAUGHT_UP"}]


def _assert_episodes(result: StreamResult) -> None:
    """BEHIND, CAUGHT_UP, BEHIND, ...: one frame per change, each BEHIND over the threshold;
    the session ends caught up (its backlog is recognised before `closed`)."""
    notices = _notices(result)
    codes = [n["code"] for n in notices]
    assert codes == ["BEHIND", "CAUGHT_UP"] * (len(codes) // 2), codes
    for notice in notices:
        if notice["code"] == "BEHIND":
            assert float(str(notice["backlog_seconds"])) >= BEHIND_SECONDS, notice
            assert "message" in notice


def _references() -> str:
    return " ".join(recordings.librivox(c).text for c in CLIPS)


def test_a_client_faster_than_real_time_is_told_it_is_behind_then_caught_up(
    make_behind: MakeCaller,
) -> None:
    caller = make_behind()
    samples, ends = speech_samples(*CLIPS, gap_seconds=1.0)
    result = stream_pcm(caller.server.api, caller.key, samples, realtime=False)
    assert result.close_code == 1000, result.frames[-3:]
    _assert_episodes(result)
    # The first utterance's decode alone keeps more than 1 s waiting: at least one episode.
    # More than one is fine (a loaded machine reads the socket slower than the VAD drains
    # between decodes, so the backlog can fall under half the threshold and rise again);
    # each is one BEHIND and one CAUGHT_UP, and the last CAUGHT_UP comes before `closed`.
    codes = [n["code"] for n in _notices(result)]
    assert codes[:2] == ["BEHIND", "CAUGHT_UP"], codes
    frames = [f.data for f in result.frames]
    last_caught = max(i for i, f in enumerate(frames) if f.get("code") == "CAUGHT_UP")
    closed_at = next(i for i, f in enumerate(frames) if f["type"] == "closed")
    assert last_caught < closed_at
    # Being behind loses nothing: every sentence's final, as accurate as a paced session.
    assert len(result.finals) == len(ends), result.finals
    assert result.of("closed")[0]["audio_seconds"] == pytest.approx(len(samples) / 16000, abs=0.05)
    assert wer(_references(), result.text) <= 0.2, result.text


def test_real_time_sessions_beyond_the_machine_get_every_final_and_behind_before_late_ones(
    make_behind: MakeCaller,
) -> None:
    sessions = 12
    callers = [make_behind() for _ in range(sessions)]
    samples, ends = speech_samples(*CLIPS, gap_seconds=1.0)
    results: list[StreamResult | None] = [None] * sessions

    def one(index: int) -> None:
        results[index] = stream_pcm(callers[index].server.api, callers[index].key, samples, realtime=True)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    late = 0
    for result in results:
        assert result is not None
        assert result.close_code == 1000, result.frames[-3:]
        assert len(result.finals) == len(ends), result.finals  # graceful: every final arrives
        assert wer(_references(), result.text) <= 0.25, result.text
        _assert_episodes(result)
        # A final more than (threshold + endpointing + one decode) after its sentence ended
        # means audio queued behind the recogniser for over the threshold meanwhile: the
        # client was told, before that final.
        told = False
        for frame in result.frames:
            if frame.data.get("code") == "BEHIND":
                told = True
            if frame.data.get("type") == "delta" and frame.data["is_final"]:
                spoken_end = min(ends, key=lambda end: abs(end - frame.data["end"]))
                if frame.at - spoken_end > BEHIND_SECONDS + 3.0:
                    late += 1
                    assert told, (frame.at - spoken_end, [f.data for f in result.frames])
    print(f"finals more than {BEHIND_SECONDS + 3.0:.0f} s late: {late}")
