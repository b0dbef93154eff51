"""The STT engine as a Triton Python-backend model (Backend A's self-hosted nodes).

``triton_models/*/1/model.py`` are one-line shims importing this class, so the GPU and CPU
configurations share this code and the in-process node's engine. The tensors and their
encoding are in ``engines/triton/codec.py``, shared with the node client.

Model parameters (config.pbtxt): ``stt_model`` (base | tiny.en | path), ``stt_model_path``,
``compute_type``, ``cpu_threads``, ``beam_size``, ``batching`` (true | false), ``decode_batch``. The device
follows the instance kind. Tensors carry Triton's batch dimension ([1, -1] per request): the
dynamic batcher (``config.pbtxt``) groups concurrent requests and ``execute`` decodes them as
one batch (``engines/batched.py``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from scaiecho_module.audio.pcm import AudioArray
from scaiecho_module.engines.batched import transcribe_batch
from scaiecho_module.engines.stt import WhisperEngine, WhisperOptions
from scaiecho_module.engines.triton import codec
from scaiecho_module.engines.weights import SttModelSettings, resolve_model_dir
from scaiecho_module.transcript import Transcript

logger = logging.getLogger("scaiecho.triton_model")


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        config = json.loads(args["model_config"])
        params = {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}
        name = params.get("stt_model") or "tiny.en"
        if name not in {"base", "tiny.en", "path"}:
            raise ValueError(f"model parameter stt_model must be base, tiny.en or path, not {name!r}")
        gpu = args.get("model_instance_kind") == "GPU"
        settings = SttModelSettings(
            name=name,
            model_path=Path(params["stt_model_path"]) if params.get("stt_model_path") else None,
            compute_type=params.get("compute_type") or ("float16" if gpu else "int8"),
            cpu_threads=int(params.get("cpu_threads") or 2),
            beam_size=int(params.get("beam_size") or (1 if name == "tiny.en" else 5)),
        )
        options = WhisperOptions(
            compute_type=settings.compute_type,
            cpu_threads=settings.cpu_threads,
            beam_size=settings.beam_size,
            device="cuda" if gpu else "cpu",
        )
        self.model_name = f"whisper-{name}" if name != "path" else "whisper-custom"
        self.engine = WhisperEngine(resolve_model_dir(settings), self.model_name, options)
        # batching=false keeps the dynamic batcher's queueing but decodes one by one (benchmarks).
        self.batching = params.get("batching", "true").lower() != "false"
        # Clips per CTranslate2 batch: large on a GPU; about 4 on a few CPU cores, where larger
        # batches fall out of cache (bench/triton_nodes.py).
        self.decode_batch = int(params.get("decode_batch") or (16 if gpu else 4))

    def execute(self, requests: list[Any]) -> list[Any]:
        import triton_python_backend_utils as pb_utils  # only importable inside Triton

        # Triton's dynamic batcher hands over the requests that queued together: decode them
        # as one batch. A request that cannot be read is answered with its own error.
        responses: list[Any] = [None] * len(requests)
        items: list[tuple[int, AudioArray, str | None]] = []
        for index, request in enumerate(requests):
            try:
                items.append((index, *_read(pb_utils, request)))
            except Exception as exc:
                responses[index] = pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc)))
        for index, outcome in zip((i for i, _, _ in items), self._transcribe(items), strict=True):
            if isinstance(outcome, Exception):
                responses[index] = pb_utils.InferenceResponse(error=pb_utils.TritonError(str(outcome)))
                continue
            result = np.frombuffer(codec.encode_result(outcome, self.model_name), dtype=np.uint8).copy()
            tensor = pb_utils.Tensor.from_dlpack(codec.RESULT, result.reshape(1, -1))  # numpy 2 safe: _array
            responses[index] = pb_utils.InferenceResponse(output_tensors=[tensor])
        return responses

    def _transcribe(self, items: list[tuple[int, AudioArray, str | None]]) -> list[Transcript | Exception]:
        if len(items) > 1 and self.batching:
            try:
                batch = [(audio, hint) for _, audio, hint in items]
                return list(transcribe_batch(self.engine, batch, self.decode_batch))
            except Exception:  # answer each on its own, so one bad request cannot fail the rest
                logger.exception("batched decode of %d requests failed; decoding one by one", len(items))
        outcomes: list[Transcript | Exception] = []
        for _, audio, language in items:
            try:
                outcomes.append(self.engine.transcribe(audio, language))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes


def _read(pb_utils: Any, request: Any) -> tuple[AudioArray, str | None]:
    audio = _array(pb_utils.get_input_tensor_by_name(request, codec.AUDIO)).astype(np.float32, copy=False)
    raw = pb_utils.get_input_tensor_by_name(request, codec.OPTIONS)
    return audio, codec.decode_options(_array(raw).tobytes()) if raw is not None else None


def _array(tensor: Any) -> np.ndarray:
    """A request tensor as numpy, through DLPack.

    The backend stub is built against the numpy 1 ABI; with numpy 2 its ``as_numpy()`` returns
    an array whose every element repeats the first. DLPack does not go through that path.
    """
    return np.from_dlpack(tensor).reshape(-1)
