"""A real HTTP server speaking the OpenAI-compatible ``POST /v1/audio/transcriptions``.

A tiny Litestar app backed by our own Whisper engine, answering ``json`` and
``verbose_json`` as OpenAI (and ScaiGrid's ``/oai/v1``) do. A bearer key is required; the
``model`` field picks how it behaves: ``whisper-1`` answers, ``slow`` answers after a minute,
``broken`` fails with 500, ``busy`` with 429, and ``text-only`` answers without segments.

Run: ``python -m tests.support.openai_server --port P --api-key K``.
"""

from __future__ import annotations

import asyncio
import io
from typing import Annotated, Any

import uvicorn
from litestar import Litestar, Request, Response, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body

from scaiecho_module.audio.decode import decode_file
from scaiecho_module.engines.stt import WhisperEngine
from tests.support.peers import peer_arguments, peer_engine

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]


def build_app(engine: WhisperEngine, api_key: str) -> Litestar:
    @post("/v1/audio/transcriptions", status_code=200)
    async def transcriptions(request: Request[Any, Any, Any], data: Form) -> Response[Any]:
        if request.headers.get("authorization") != f"Bearer {api_key}":
            return Response({"error": {"message": "Incorrect API key provided"}}, status_code=401)
        model = data.get("model")
        upload = data.get("file")
        if not isinstance(upload, UploadFile) or not model:
            return Response({"error": {"message": "file and model are required"}}, status_code=400)
        if model == "slow":
            await asyncio.sleep(60)
        if model in {"broken", "busy"}:
            return Response(
                {"error": {"message": "overloaded"}}, status_code=500 if model == "broken" else 429
            )
        audio = decode_file(io.BytesIO(await upload.read()))
        language = data.get("language") or None
        transcript = await asyncio.to_thread(engine.transcribe, audio, language)
        if data.get("response_format") != "verbose_json" or model == "text-only":
            return Response({"text": transcript.text})
        return Response(
            {
                "task": "transcribe",
                "language": {"en": "english"}.get(transcript.language, transcript.language),
                "duration": transcript.duration_seconds,
                "text": transcript.text,
                "segments": [
                    {"id": i, "seek": 0, "start": s.start, "end": s.end, "text": " " + s.text}
                    for i, s in enumerate(transcript.segments)
                ],
            }
        )

    return Litestar([transcriptions], request_max_body_size=64 * 1024 * 1024)


def main() -> None:
    args = peer_arguments(__doc__)
    app = build_app(peer_engine(args), args.api_key)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
