"""A real gRPC server speaking NVIDIA Riva's ASR protocol, backed by our own Whisper engine.

Built from the protos and servicer stubs that ``nvidia-riva-client`` ships, so the relay
talks to it exactly as to a Riva server or the managed cloud. It checks credentials like the
cloud does (``authorization: Bearer <key>`` and a ``function-id``), and the function id
picks how it behaves, so one server covers the failure cases:

- ``asr-ok``: answers; streaming sends interim results (our live recogniser's partials);
- ``asr-slow``: answers nothing for a minute (past any deadline);
- ``asr-error``: fails every call with ``INTERNAL``;
- ``asr-drop``: streams normally, then ends the stream with ``UNAVAILABLE`` after 3 s of audio.

A wrong key gets ``UNAUTHENTICATED`` with a message that echoes the key, as careless servers
do: the relay must never pass it on. With ``--record FILE`` every ``Recognize`` answer is
appended to FILE as one JSON line (the segment texts it returned), so a test can check what
the product made of the relay's answers without depending on the model's wording, and every
``Recognize`` request's word boosting (``speech_contexts``) to FILE with ``.boost`` before its
suffix, one JSON line per request (``[{"phrases": [...], "boost": score}, ...]``), and so is
each ``StreamingRecognize`` call's, once, when its config arrives. Boosted phrases are
honoured as Riva would, in both: they become Whisper's hotwords.
Run: ``python -m tests.support.riva_server --port P --api-key K [--record FILE]``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from riva.client.proto import riva_asr_pb2, riva_asr_pb2_grpc

from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.backends.priority import Priority
from scaiecho_module.backends.recognizer import VadRecognizer
from scaiecho_module.engines.stt import WhisperEngine
from scaiecho_module.transcript import DecodeOptions, Transcript
from tests.support.peers import peer_arguments, peer_engine

DROP_AFTER_SECONDS = 3.0


def _words(text: str, start: float, end: float) -> list[Any]:
    """Word times spread over the span (Riva gives per-word times in milliseconds)."""
    words = text.split()
    step = (end - start) / max(len(words), 1)
    return [
        riva_asr_pb2.WordInfo(
            word=word,
            start_time=int((start + i * step) * 1000),
            end_time=int((start + (i + 1) * step) * 1000),
        )
        for i, word in enumerate(words)
    ]


def _alternative(text: str, start: float, end: float, language_code: str) -> Any:
    return riva_asr_pb2.SpeechRecognitionAlternative(
        transcript=text, confidence=0.9, words=_words(text, start, end), language_code=[language_code]
    )


def _audio(pcm: bytes) -> AudioArray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768


class RivaAsr(riva_asr_pb2_grpc.RivaSpeechRecognitionServicer):  # type: ignore[misc]
    def __init__(self, engine: WhisperEngine, api_key: str, record: Path | None = None) -> None:
        self._engine = engine
        self._api_key = api_key
        self._record = record

    async def _behaviour(self, context: Any) -> str:
        metadata = dict(context.invocation_metadata())
        presented = metadata.get("authorization", "")
        if presented != f"Bearer {self._api_key}":
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"invalid credentials: {presented!r}")
        function = str(metadata.get("function-id", ""))
        if function not in {"asr-ok", "asr-slow", "asr-error", "asr-drop"}:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no function {function!r}")
        if function == "asr-slow":
            await asyncio.sleep(60)
        if function == "asr-error":
            await context.abort(grpc.StatusCode.INTERNAL, "inference failed")
        return function

    async def _transcribe(
        self, audio: AudioArray, language_code: str, boosted: str | None = None
    ) -> Transcript:
        language = language_code.split("-", maxsplit=1)[0] or None
        options = DecodeOptions(hotwords=boosted) if boosted else None
        return await asyncio.to_thread(self._engine.transcribe, audio, language, options)

    def _boosting(self, config: Any) -> str:
        """A config's boosted phrases as Whisper's hotwords; recorded when there is a record."""
        if self._record is not None:
            contexts_of = config.speech_contexts
            contexts = [{"phrases": list(c.phrases), "boost": round(c.boost, 3)} for c in contexts_of]
            with self._record.with_suffix(".boost" + self._record.suffix).open("a") as boost:
                boost.write(json.dumps(contexts) + "\n")
        return ", ".join(p for c in config.speech_contexts if c.boost > 0 for p in c.phrases)

    async def Recognize(self, request: Any, context: Any) -> Any:
        await self._behaviour(context)
        config = request.config
        if config.sample_rate_hertz != SAMPLE_RATE or config.audio_channel_count not in (0, 1):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "16 kHz mono only")
        boosted = self._boosting(config)
        transcript = await self._transcribe(_audio(request.audio), config.language_code, boosted)
        if self._record is not None:
            with self._record.open("a") as record:
                record.write(json.dumps([s.text for s in transcript.segments]) + "\n")
        return riva_asr_pb2.RecognizeResponse(
            results=[
                riva_asr_pb2.SpeechRecognitionResult(
                    alternatives=[_alternative(s.text, s.start, s.end, config.language_code)],
                    audio_processed=s.end,
                )
                for s in transcript.segments
            ]
        )

    async def StreamingRecognize(
        self, request_iterator: AsyncIterator[Any], context: Any
    ) -> AsyncIterator[Any]:
        function = await self._behaviour(context)
        first = await anext(aiter(request_iterator))
        config = first.streaming_config
        language = config.config.language_code
        boosted = self._boosting(config.config)

        async def transcribe(audio: AudioArray, priority: Priority) -> Transcript:
            return await self._transcribe(audio, language, boosted)

        recognizer = VadRecognizer(transcribe, chunk_seconds=15.0)
        received = 0
        try:
            async for request in request_iterator:
                audio = _audio(request.audio_content)
                received += len(audio)
                if function == "asr-drop" and received > DROP_AFTER_SECONDS * SAMPLE_RATE:
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "worker restarting")
                for delta in await recognizer.push(audio):
                    if delta.is_final or config.interim_results:
                        yield self._result(delta, language, received)
            for delta in await recognizer.finish():
                yield self._result(delta, language, received)
        finally:
            await recognizer.close()

    @staticmethod
    def _result(delta: Any, language: str, received: int) -> Any:
        return riva_asr_pb2.StreamingRecognizeResponse(
            results=[
                riva_asr_pb2.StreamingRecognitionResult(
                    alternatives=[_alternative(delta.text, delta.start, delta.end, language)],
                    is_final=delta.is_final,
                    stability=1.0 if delta.is_final else 0.5,
                    audio_processed=received / SAMPLE_RATE,
                )
            ]
        )


async def serve(engine: WhisperEngine, port: int, api_key: str, record: Path | None) -> None:
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
    riva_asr_pb2_grpc.add_RivaSpeechRecognitionServicer_to_server(RivaAsr(engine, api_key, record), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def main() -> None:
    args = peer_arguments(__doc__)
    record = Path(args.record) if args.record else None
    asyncio.run(serve(peer_engine(args), args.port, args.api_key, record))


if __name__ == "__main__":
    main()
