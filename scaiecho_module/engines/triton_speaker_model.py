"""The speaker engine as a Triton Python-backend model (``triton_models/scaiecho_speaker``).

The same engine code as the in-process node: CAM++ embeddings (``speaker_embedding.py``) and
an in-memory library per tenant (``speaker_library.py``). The wire format is
``speaker_wire.py``. The library lives in this model instance's memory, so the model runs as
one instance (``config.pbtxt``: a second instance would hold a second, different library);
a server restart empties it and the speaker service warms the node again.

It also diarizes (op ``diarize``: pyannote's pipeline over the same CAM++ embedder,
``diarization.py``), loading pyannote and segmentation-3.0 on the first such call, and
segments a live chunk (op ``segment``: segmentation-3.0 alone, ``segmentation.py``).

Model parameters (config.pbtxt): ``cpu_threads`` (torch's intra-op threads) and ``forwards``
(forward passes of one request at once, each on its own thread).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from scaiecho_module.engines.diarization import Diarizer, LazyDiarizer
from scaiecho_module.engines.segmentation import LocalSegmenter
from scaiecho_module.engines.speaker_embedding import SpeakerEmbedder
from scaiecho_module.engines.speaker_library import SpeakerLibrary
from scaiecho_module.engines.speaker_wire import SpeakerOp, SpeakerReply, SpeakerRequest


def serve(
    request: SpeakerRequest,
    embedder: SpeakerEmbedder,
    library: SpeakerLibrary,
    diarizer: Callable[[], Diarizer] | None = None,
    segmenter: LocalSegmenter | None = None,
) -> SpeakerReply:
    """One speaker call, as either node kind answers it."""
    if request.op is SpeakerOp.SEGMENT:
        if segmenter is None:
            raise ValueError("this speaker model does not segment")
        return SpeakerReply.of_local_turns(segmenter.local_turns(request.audio))
    if request.op is SpeakerOp.DIARIZE:
        if diarizer is None:
            raise ValueError("this speaker model does not diarize")
        return SpeakerReply.of_diarization(diarizer().diarize(request.audio))
    if request.op is SpeakerOp.EMBED:
        if not request.voice and segmenter is not None:
            segmenter.warm()  # windows only: a live labeller's block, whose finals segment soon
        return SpeakerReply.of_windows(embedder.voice_windows(request.audio, voice=request.voice))
    if request.op is SpeakerOp.ENROLL:
        library.enroll(request.tenant_id, request.speaker_id, request.vectors)
        return SpeakerReply({})
    if request.op is SpeakerOp.EVICT:
        return SpeakerReply.of_held(library.evict(request.tenant_id, request.speaker_id))
    if request.op is SpeakerOp.LIST:
        return SpeakerReply.of_enrolled(library.enrolled())
    return SpeakerReply.of_matches(library.match(request.tenant_id, request.vectors, request.threshold))


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        config = json.loads(args["model_config"])
        params = {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}
        self.embedder = SpeakerEmbedder(
            threads=int(params.get("cpu_threads") or 1), forwards=int(params.get("forwards") or 1)
        )
        self.library = SpeakerLibrary()
        # pyannote and segmentation-3.0 load on the first diarize call, not at model load.
        self.diarizer = LazyDiarizer(self.embedder)
        self.segmenter = LocalSegmenter()  # segmentation-3.0 alone (live labels), on first use

    def execute(self, requests: list[Any]) -> list[Any]:
        import triton_python_backend_utils as pb_utils  # only importable inside Triton

        responses = []
        for request in requests:

            def get(name: str, request: Any = request) -> np.ndarray | None:
                tensor = pb_utils.get_input_tensor_by_name(request, name)
                # DLPack, not as_numpy(): see engines/triton_model.py's _array.
                return None if tensor is None else np.from_dlpack(tensor).reshape(-1)

            try:
                reply = serve(
                    SpeakerRequest.from_tensors(get),
                    self.embedder,
                    self.library,
                    self.diarizer.get,
                    self.segmenter,
                )
            except Exception as exc:  # a bad request is answered with its error, never its data
                error = pb_utils.TritonError(f"{type(exc).__name__}: {exc}")
                responses.append(pb_utils.InferenceResponse(error=error))
                continue
            # Only what the caller asked for (VECTORS for embed alone), built through DLPack
            # (numpy 2 safe, as in engines/triton_model.py).
            wanted = set(request.requested_output_names())
            tensors = [
                pb_utils.Tensor.from_dlpack(name, np.ascontiguousarray(array))
                for name, array in reply.tensors().items()
                if name in wanted
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses
