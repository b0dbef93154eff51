"""NVIDIA Riva ASR over gRPC (self-hosted Riva or the managed cloud: bearer key + function-id).

Batch: ``Recognize`` (offline), 16 kHz 16-bit PCM, word times on, one deadline per call.
Live: ``StreamingRecognize`` with interim results: interim results become partial deltas and
final results final deltas. Riva's word times are milliseconds from the stream's start, which
is the session's start, so they map straight onto delta times.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from scaiecho_module.audio import pcm
from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray, pcm16
from scaiecho_module.backends.relay.backend import RelayError, RelayResult, unavailable
from scaiecho_module.backends.relay.settings import RelaySettings
from scaiecho_module.transcript import Delta, Segment, Word

if TYPE_CHECKING:
    from scaiecho_module.backends.relay.backend import RelayBackend

logger = logging.getLogger("scaiecho.relay")

# Riva names languages BCP-47 with a region; our hints are ISO 639-1.
_REGIONS = {
    "en": "en-US", "es": "es-US", "de": "de-DE", "fr": "fr-FR", "it": "it-IT", "pt": "pt-BR",
    "ja": "ja-JP", "ko": "ko-KR", "zh": "zh-CN", "ru": "ru-RU", "hi": "hi-IN", "ar": "ar-AR",
    "nl": "nl-NL", "pl": "pl-PL", "sv": "sv-SE", "tr": "tr-TR", "uk": "uk-UA", "vi": "vi-VN",
}  # fmt: skip
_TRANSIENT = {"UNAVAILABLE", "RESOURCE_EXHAUSTED", "ABORTED", "INTERNAL", "UNKNOWN"}
_AUTH = {"UNAUTHENTICATED", "PERMISSION_DENIED"}
_MAX_MESSAGE = 64 * 1024 * 1024
_FRAME = SAMPLE_RATE // 10  # 100 ms of audio per streaming request


def _error(exc: Exception) -> RelayError:
    import grpc

    if isinstance(exc, grpc.aio.AioRpcError):
        code = exc.code().name
        if code == "DEADLINE_EXCEEDED":
            # Not retried: a slow relay would hold the caller for (retries + 1) deadlines.
            return RelayError("deadline_exceeded", transient=False)
        if code in _AUTH:
            return RelayError(f"rejected_credentials ({code})", transient=False)
        if code == "INVALID_ARGUMENT":
            return RelayError("invalid_argument", transient=False, disables=False)
        return RelayError(f"grpc_{code.lower()}", transient=code in _TRANSIENT)
    return RelayError(type(exc).__name__, transient=False)


class RivaClient:
    def __init__(self, settings: RelaySettings) -> None:
        self.settings = settings
        self.model = f"riva:{settings.model or 'default'}"
        self._channel: Any = None
        self._stub: Any = None

    def _connect(self) -> Any:
        if self._stub is None:
            import grpc
            from riva.client.proto.riva_asr_pb2_grpc import RivaSpeechRecognitionStub

            options = [
                ("grpc.max_send_message_length", _MAX_MESSAGE),
                ("grpc.max_receive_message_length", _MAX_MESSAGE),
                # gRPC's default reconnect backoff grows to 2 minutes: a relay that is back
                # would stay unreachable that long.
                ("grpc.initial_reconnect_backoff_ms", 500),
                ("grpc.max_reconnect_backoff_ms", 5000),
            ]
            if self.settings.tls:
                credentials = grpc.ssl_channel_credentials()
                self._channel = grpc.aio.secure_channel(self.settings.url, credentials, options=options)
            else:
                self._channel = grpc.aio.insecure_channel(self.settings.url, options=options)
            self._stub = RivaSpeechRecognitionStub(self._channel)
        return self._stub

    def metadata(self) -> list[tuple[str, str]]:
        pairs = []
        if self.settings.api_key is not None:
            pairs.append(("authorization", f"Bearer {self.settings.api_key.reveal()}"))
        if self.settings.function_id:
            pairs.append(("function-id", self.settings.function_id))
        pairs += [(name, value.reveal()) for name, value in self.settings.metadata]
        return pairs

    def config(self, language: str | None, boost: tuple[str, ...] = ()) -> Any:
        from riva.client.proto import riva_asr_pb2, riva_audio_pb2

        config = riva_asr_pb2.RecognitionConfig(
            encoding=riva_audio_pb2.AudioEncoding.LINEAR_PCM,
            sample_rate_hertz=SAMPLE_RATE,
            audio_channel_count=1,
            language_code=_REGIONS.get(language, language) if language else self.settings.language,
            max_alternatives=1,
            enable_automatic_punctuation=True,
            enable_word_time_offsets=True,
            model=self.settings.model or "",
        )
        if boost:
            from riva.client import add_word_boosting_to_config

            add_word_boosting_to_config(config, list(boost), self.settings.boost_score)
        return config

    async def recognize(
        self, audio: AudioArray, language: str | None, boost: tuple[str, ...] = ()
    ) -> RelayResult:
        from riva.client.proto import riva_asr_pb2

        request = riva_asr_pb2.RecognizeRequest(config=self.config(language, boost), audio=pcm16(audio))
        try:
            response = await self._connect().Recognize(
                request, metadata=self.metadata(), timeout=self.settings.timeout_seconds
            )
        except Exception as exc:
            raise _error(exc) from None
        segments, previous_end = [], 0.0
        for result in response.results:
            if not result.alternatives or not result.alternatives[0].transcript.strip():
                continue
            start, end = _times(result, previous_end, len(audio) / SAMPLE_RATE)
            segments.append(Segment(start, end, result.alternatives[0].transcript.strip()))
            previous_end = end
        # Riva reports the language per alternative (a list, for code-switching models).
        spoken = next(
            (
                r.alternatives[0].language_code[0]
                for r in response.results
                if r.alternatives and r.alternatives[0].language_code
            ),
            "",
        )
        return RelayResult(tuple(segments), (spoken or language or self.settings.language).split("-")[0])

    async def open_stream(
        self,
        language: str | None,
        chunk_seconds: float,
        relay: RelayBackend,
        min_silence: float | None = None,
        boost: tuple[str, ...] = (),
    ) -> RivaStream:
        # Riva ends utterances by its own endpointing: the session's endpointing_ms is not sent.
        self._connect()
        try:
            await asyncio.wait_for(self._channel.channel_ready(), self.settings.connect_seconds)
        except TimeoutError:
            raise RelayError("unreachable", transient=False) from None
        return RivaStream(self, language, relay, boost)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = self._stub = None


def _times(result: Any, previous_end: float, ceiling: float) -> tuple[float, float]:
    words = result.alternatives[0].words
    if words:
        return round(words[0].start_time / 1000, 3), round(words[-1].end_time / 1000, 3)
    end = float(result.audio_processed) if result.audio_processed > previous_end else ceiling
    return round(previous_end, 3), round(end, 3)


def _words(result: Any) -> tuple[Word, ...]:
    """A final's words (``enable_word_time_offsets`` is always on): session milliseconds."""
    words = [w for w in result.alternatives[0].words if w.word.strip()]
    return tuple(
        Word(
            round(w.start_time / 1000, 3), round(w.end_time / 1000, 3), w.word.strip(), round(w.confidence, 4)
        )
        for w in words
    )


class RivaStream:
    """One live session as one ``StreamingRecognize`` call.

    Audio is queued to the call's request iterator; a reader task turns responses into
    deltas, handed out at the next ``push``. If the relay ends the stream with an error, the
    next ``push`` (or ``finish``) raises ``BACKEND_UNAVAILABLE``: the session closes with
    4502 after the finals it already had. A stream cannot be retried: its audio is spent.
    """

    def __init__(
        self, client: RivaClient, language: str | None, relay: RelayBackend, boost: tuple[str, ...] = ()
    ) -> None:
        self._client = client
        self._relay = relay
        self._language = language
        self._boost = boost  # the session's hotwords: word boosting for the whole stream
        self._requests: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._deltas: list[Delta] = []
        self._failure: RelayError | None = None
        self._final_end = 0.0
        self._pending = pcm.empty()
        self._reader = asyncio.create_task(self._read())

    async def _requests_iter(self) -> Any:
        from riva.client.proto import riva_asr_pb2

        config = riva_asr_pb2.StreamingRecognitionConfig(
            config=self._client.config(self._language, self._boost), interim_results=True
        )
        yield riva_asr_pb2.StreamingRecognizeRequest(streaming_config=config)
        while (chunk := await self._requests.get()) is not None:
            yield riva_asr_pb2.StreamingRecognizeRequest(audio_content=chunk)

    async def _read(self) -> None:
        try:
            call = self._client._connect().StreamingRecognize(
                self._requests_iter(), metadata=self._client.metadata()
            )
            async for response in call:
                for result in response.results:
                    self._take(result)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failure = _error(exc)

    def _take(self, result: Any) -> None:
        if not result.alternatives:
            return
        text = result.alternatives[0].transcript.strip()
        start, end = _times(result, self._final_end, max(self._final_end, float(result.audio_processed)))
        if result.is_final:
            self._final_end = max(self._final_end, end)
            if text:
                self._deltas.append(Delta(text, True, start, end, words=_words(result)))
        elif text:
            self._deltas.append(Delta(text, False, start, end))

    def _drain(self) -> list[Delta]:
        if self._failure is not None:
            self._relay.failed(self._failure)
            raise unavailable()
        deltas, self._deltas = self._deltas, []
        return deltas

    async def push(self, audio: AudioArray, behind: bool = False) -> list[Delta]:
        self._pending = np.concatenate([self._pending, audio])
        while len(self._pending) >= _FRAME:
            self._requests.put_nowait(pcm16(self._pending[:_FRAME]))
            self._pending = self._pending[_FRAME:]
        await asyncio.sleep(0)  # let the reader hand over what has arrived
        return self._drain()

    async def finish(self) -> list[Delta]:
        if len(self._pending):
            self._requests.put_nowait(pcm16(self._pending))
            self._pending = self._pending[:0]
        self._requests.put_nowait(None)
        try:
            # The last finals come after the half-close; a relay that never answers is cut off.
            await asyncio.wait_for(asyncio.shield(self._reader), self._client.settings.timeout_seconds)
        except TimeoutError:
            self._failure = RelayError("deadline_exceeded", transient=False)
            await self.close()
        return self._drain()

    async def flush(self) -> list[Delta]:
        """Riva decides its own finals: Finalize sends the audio held back and returns what
        has arrived; no final is forced."""
        if len(self._pending):
            self._requests.put_nowait(pcm16(self._pending))
            self._pending = self._pending[:0]
        await asyncio.sleep(0)
        return self._drain()

    async def close(self) -> None:
        self._requests.put_nowait(None)
        if not self._reader.done():
            self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
