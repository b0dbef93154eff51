"""The STT engine as a Triton Python-backend model (Backend A's self-hosted nodes).

``triton_models/*/1/model.py`` are one-line shims importing this class, so the GPU and CPU
configurations share this code and the in-process node's engine. Tensors (no strings, so
the backend stub works with numpy 2):

- input  ``AUDIO``   FP32  [-1]   16 kHz mono samples
- input  ``OPTIONS`` UINT8 [-1]   UTF-8 JSON: {"language": "en" | null}
- output ``RESULT``  UINT8 [-1]   UTF-8 JSON: {"segments": [[start, end, text], ...],
                                   "language": "en", "language_probability": 1.0,
                                   "duration_seconds": 7.1, "model": "whisper-tiny.en"}

Model parameters (config.pbtxt): ``stt_model`` (base | tiny.en | path), ``stt_model_path``,
``compute_type``, ``cpu_threads``, ``beam_size``. The device follows the instance kind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from scaiecho_module.config import SttModelSettings
from scaiecho_module.engines.stt import Transcript, WhisperEngine, WhisperOptions
from scaiecho_module.engines.weights import resolve_model_dir


def encode_result(transcript: Transcript, model: str) -> bytes:
    return json.dumps(
        {
            "segments": [[s.start, s.end, s.text] for s in transcript.segments],
            "language": transcript.language,
            "language_probability": transcript.language_probability,
            "duration_seconds": transcript.duration_seconds,
            "model": model,
        }
    ).encode()


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

    def execute(self, requests: list[Any]) -> list[Any]:
        import triton_python_backend_utils as pb_utils  # only importable inside Triton

        responses = []
        # Triton may hand over several requests at once; each is answered on its own.
        for request in requests:
            try:
                audio = _array(pb_utils.get_input_tensor_by_name(request, "AUDIO"))
                raw = pb_utils.get_input_tensor_by_name(request, "OPTIONS")
                options = json.loads(_array(raw).tobytes().decode() or "{}") if raw is not None else {}
                transcript = self.engine.transcribe(
                    audio.astype(np.float32, copy=False), options.get("language")
                )
                result = np.frombuffer(encode_result(transcript, self.model_name), dtype=np.uint8).copy()
                tensor = pb_utils.Tensor.from_dlpack("RESULT", result)  # numpy 2 safe: see _array
                responses.append(pb_utils.InferenceResponse(output_tensors=[tensor]))
            except Exception as exc:  # one bad request must not fail the others in the batch
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc))))
        return responses


def _array(tensor: Any) -> np.ndarray:
    """A request tensor as numpy, through DLPack.

    The backend stub is built against the numpy 1 ABI; with numpy 2 its ``as_numpy()`` returns
    an array whose every element repeats the first. DLPack does not go through that path.
    """
    return np.from_dlpack(tensor).reshape(-1)
