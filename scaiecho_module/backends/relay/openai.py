"""OpenAI-compatible ``POST {base}/v1/audio/transcriptions`` (ScaiGrid itself serves one).

Batch: the audio as a 16 kHz 16-bit WAV, ``response_format=verbose_json`` for segments.
Live: the API has no streaming, so a live session is served by chunking: Backend A's
VAD recogniser cuts utterances and each utterance is one request. Only finals: a partial
would cost a full request per second of speech.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import wave
from typing import TYPE_CHECKING, Any

import httpx

from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray, pcm16
from scaiecho_module.backends.priority import Priority
from scaiecho_module.backends.recognizer import VadRecognizer
from scaiecho_module.backends.relay.backend import RelayError, RelayResult
from scaiecho_module.backends.relay.settings import RelaySettings
from scaiecho_module.transcript import Segment, Transcript

if TYPE_CHECKING:
    from scaiecho_module.backends.relay.backend import RelayBackend

_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}


def _wav(audio: AudioArray) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm16(audio))
    return buffer.getvalue()


# verbose_json names the language ("english"); our API uses ISO 639-1 codes. Whisper's own
# names for the languages callers hint most; an unknown name is reported as unknown ("").
_NAMES = {
    "english": "en", "spanish": "es", "german": "de", "french": "fr", "italian": "it",
    "portuguese": "pt", "japanese": "ja", "korean": "ko", "chinese": "zh", "russian": "ru",
    "hindi": "hi", "arabic": "ar", "dutch": "nl", "polish": "pl", "swedish": "sv",
    "turkish": "tr", "ukrainian": "uk", "vietnamese": "vi", "czech": "cs", "danish": "da",
    "finnish": "fi", "greek": "el", "hebrew": "he", "hungarian": "hu", "indonesian": "id",
    "norwegian": "no", "romanian": "ro", "thai": "th",
}  # fmt: skip


def _language_code(name: str) -> str:
    from scaiecho_module.languages import supported_languages

    name = name.strip().lower()
    return name if name in supported_languages() else _NAMES.get(name, "")


class OpenAIClient:
    def __init__(self, settings: RelaySettings) -> None:
        self.settings = settings
        self.model = f"openai:{settings.model}"
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            headers = {name: value.reveal() for name, value in self.settings.metadata}
            if self.settings.api_key is not None:
                headers["authorization"] = f"Bearer {self.settings.api_key.reveal()}"
            self._http = httpx.AsyncClient(
                base_url=self.settings.url, headers=headers, timeout=self.settings.timeout_seconds
            )
        return self._http

    async def recognize(
        self, audio: AudioArray, language: str | None, boost: tuple[str, ...] = ()
    ) -> RelayResult:
        # The API has no word boosting: ``boost`` is ignored (documented; prompt is not sent).
        data = {"model": self.settings.model or "whisper-1", "response_format": "verbose_json"}
        if language:
            data["language"] = language
        request = self._client().post(
            "/v1/audio/transcriptions", data=data, files={"file": ("audio.wav", _wav(audio), "audio/wav")}
        )
        try:
            # httpx's timeout bounds each read, not the call: a server trickling bytes would
            # never trip it. The deadline is for the whole call.
            response = await asyncio.wait_for(request, self.settings.timeout_seconds)
        except (httpx.TimeoutException, TimeoutError):
            raise RelayError("deadline_exceeded", transient=False) from None
        except httpx.TransportError as exc:
            raise RelayError(f"unreachable ({type(exc).__name__})", transient=True) from None
        if response.status_code in {401, 403}:
            raise RelayError(f"rejected_credentials (HTTP {response.status_code})", transient=False)
        if response.status_code != 200:
            transient = response.status_code in _TRANSIENT_STATUS
            raise RelayError(f"http_{response.status_code}", transient, disables=response.status_code >= 429)
        try:
            body: dict[str, Any] = response.json()
            segments = tuple(
                Segment(round(float(s["start"]), 3), round(float(s["end"]), 3), str(s["text"]).strip())
                for s in body.get("segments") or []
                if str(s.get("text", "")).strip()
            )
            if not segments and str(body.get("text", "")).strip():  # a relay without segments
                segments = (Segment(0.0, round(len(audio) / SAMPLE_RATE, 3), str(body["text"]).strip()),)
        except (ValueError, KeyError, TypeError):
            raise RelayError("malformed_response", transient=False) from None
        return RelayResult(segments, _language_code(str(body.get("language") or language or "")))

    async def open_stream(
        self,
        language: str | None,
        chunk_seconds: float,
        relay: RelayBackend,
        min_silence: float | None = None,
        boost: tuple[str, ...] = (),
    ) -> VadRecognizer:
        await self._reachable()

        async def transcribe(audio: AudioArray, priority: Priority) -> Transcript:
            return (await relay.transcribe(audio, language, priority)).transcript

        # ``boost`` is ignored: the API has no word boosting (as in ``recognize``).
        # node_idle always False: the recogniser never starts a partial.
        # Utterances are found here (our VAD), so the session's endpointing applies as on A.
        # No speculative finals: a dropped one would be a billed request to someone else's API.
        return VadRecognizer(
            transcribe,
            chunk_seconds,
            min_silence=min_silence or 0.5,
            node_idle=lambda: False,
            speculate=False,
        )

    async def _reachable(self) -> None:
        """A TCP connection to the relay, so an unreachable one is known before a session starts.

        Protocol-neutral on purpose: OpenAI-compatible servers agree on no health endpoint.
        """
        url = httpx.URL(self.settings.url)
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(url.host, port), self.settings.connect_seconds
            )
        except (OSError, TimeoutError):
            raise RelayError("unreachable", transient=False) from None
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
