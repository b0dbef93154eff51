"""A self-hosted STT node: a Triton server serving ``triton_models/``, reached over gRPC.

The node is healthy while the server and its model answer ready. A failed request marks it
unhealthy at once (the pool retries elsewhere); the pool's poller brings it back when it
answers ready again.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

import numpy as np

from scaiecho_module.backends.node_health import NodeState
from scaiecho_module.backends.priority import Priority
from scaiecho_module.engines.stt import AudioArray, Segment, Transcript

logger = logging.getLogger("scaiecho.nodes")


class NodeFailedError(Exception):
    """The node could not serve the request; another node may."""


class TritonNode:
    def __init__(self, node_id: str, url: str, model_name: str, timeout_seconds: float = 120.0) -> None:
        self.node_id = node_id
        self.url = url.removeprefix("grpc://")
        self.model_name = model_name
        self._timeout = timeout_seconds
        self._client: Any = None
        self._retired: list[Any] = []
        self._healthy = False
        self._in_flight = 0
        self._model = f"triton:{model_name}"
        self.last_error: str | None = None

    @property
    def healthy(self) -> bool:
        return self._healthy

    @property
    def state(self) -> NodeState:
        return NodeState(self._healthy, self.last_error)

    def apply(self, state: NodeState) -> None:
        """Take a state another API process saw (shared board)."""
        if state.healthy != self._healthy:
            word = "ready" if state.healthy else "not ready"
            logger.info("node %s is %s (shared state)", self.node_id, word)
        self._healthy = state.healthy
        self.last_error = state.last_error

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def model(self) -> str:
        return self._model

    def _grpc(self) -> Any:
        if self._client is None:
            import tritonclient.grpc.aio as grpcclient

            self._client = grpcclient.InferenceServerClient(self.url)
        return self._client

    async def check(self) -> bool:
        """Poll readiness (server and model); updates ``healthy`` and ``last_error``."""
        # last_error is shown to tenant admins (GET /nodes): a category only, never addresses;
        # the details go to the log.
        try:
            client = self._grpc()
            ready = await client.is_server_ready(client_timeout=2.0) and await client.is_model_ready(
                self.model_name, client_timeout=2.0
            )
            error, detail = (None, "") if ready else ("not_ready", "server or model not ready")
        except Exception as exc:  # unreachable, refused, timed out: all mean "not ready"
            ready, error, detail = False, "unreachable", f"{type(exc).__name__}: {exc}"
            # A fresh channel next time: gRPC's reconnect backoff could otherwise keep a
            # restarted node looking dead for up to two minutes.
            with contextlib.suppress(Exception):
                await self.close()
        if ready and not self._healthy:
            logger.info("node %s is ready", self.node_id)
        elif not ready and (self._healthy or error != self.last_error):
            logger.warning("node %s is not ready: %s", self.node_id, detail)
        self._healthy = bool(ready)
        self.last_error = error
        return self._healthy

    async def transcribe(
        self, audio: AudioArray, language: str | None, priority: Priority = Priority.SYNC
    ) -> Transcript:
        from tritonclient.grpc import InferInput, InferRequestedOutput

        self._in_flight += 1
        try:
            samples = np.ascontiguousarray(audio, dtype=np.float32)
            # [1, n]: one request of the model's dynamic batch (config max_batch_size > 0).
            audio_in = InferInput("AUDIO", [1, len(samples)], "FP32")
            audio_in.set_data_from_numpy(samples.reshape(1, -1))
            options = np.frombuffer(json.dumps({"language": language}).encode(), dtype=np.uint8)
            options_in = InferInput("OPTIONS", [1, len(options)], "UINT8")
            options_in.set_data_from_numpy(options.reshape(1, -1))
            result = await self._grpc().infer(
                self.model_name,
                [audio_in, options_in],
                outputs=[InferRequestedOutput("RESULT")],
                client_timeout=self._timeout,
            )
            payload = json.loads(result.as_numpy("RESULT").tobytes())
        except Exception as exc:
            self._healthy = False
            self.last_error = "request_failed"
            self._retire_channel()
            logger.warning("node %s failed a request: %s: %s", self.node_id, type(exc).__name__, exc)
            raise NodeFailedError(f"node {self.node_id} failed a request") from exc
        finally:
            self._in_flight -= 1
        self._model = str(payload.get("model") or self._model)
        segments = tuple(Segment(float(s), float(e), str(t)) for s, e, t in payload["segments"])
        return Transcript(
            segments,
            str(payload["language"]),
            float(payload["language_probability"]),
            float(payload["duration_seconds"]),
        )

    def _retire_channel(self) -> None:
        # A fresh channel for the next request (see check); the old one may still carry other
        # requests, so it is closed later rather than under them.
        if self._client is not None:
            self._retired.append(self._client)
            self._client = None

    async def close(self) -> None:
        retired, self._retired = self._retired, []
        for client in retired:
            with contextlib.suppress(Exception):
                await client.close()
        if self._client is not None:
            await self._client.close()
            self._client = None
