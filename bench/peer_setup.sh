#!/usr/bin/env bash
# WhisperLive 0.10.0 in its own venv, for bench/peer_stream.py (not part of the test suite).
#
# Its wheel declares PyAudio (needs portaudio), openai-whisper, openvino, CUDA libraries and
# more that its faster_whisper WebSocket server never imports: install it --no-deps, then
# only what `whisper_live.server` and its faster_whisper backend import. faster-whisper is
# the version WhisperLive pins (1.2.0); torch is the local CPU wheel (an unpinned torch pulls
# GB of CUDA packages), imported by the server only to ask whether CUDA is there. requests:
# faster_whisper.utils imports it, and the huggingface-hub that resolves no longer brings it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${PEER_VENV:-$root/.cache/peer/whisperlive-venv}"
uv="$root/.cache/tools/bin/uv"
torch_wheel="$(ls /opt/wheels/torch-2.13.0+cpu-*.whl 2>/dev/null | head -1 || true)"
torch_req="${torch_wheel:-torch==2.13.0}"

[ -x "$venv/bin/python" ] || "$uv" venv -q -p python3.11 "$venv"
VIRTUAL_ENV="$venv" "$uv" pip install -q --no-deps whisper-live==0.10.0
VIRTUAL_ENV="$venv" "$uv" pip install -q "$torch_req" faster-whisper==1.2.0 \
    requests websockets fastapi uvicorn python-multipart scipy "numpy<2.5"
"$venv/bin/python" -c "import whisper_live.server, whisper_live.backend.faster_whisper_backend"
echo "$venv"
