"""uvicorn's WebSocket protocol, with a reset connection's disconnect delivered first.

uvicorn queues each message it reads for the app and pauses reading until the app takes
it. When the client resets the connection (an RST: its network died, it was killed), the
``websocket.disconnect`` is queued behind the messages already read. An app that reads
slowly on purpose (a live session applying backpressure) would learn of the reset only
after working through them, for a client that can no longer receive any answer. On a
reset those messages are dropped, so the app's next ``receive()`` is the disconnect.

An orderly end (a close frame, a FIN) keeps its order: the client may still be waiting
for the answers to what it sent before it.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class PromptResetWSProtocol(WebSocketsSansIOProtocol):
    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:  # reset or transport error, not an orderly end
            kept = []
            while True:
                try:
                    event = self.queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if event["type"] != "websocket.receive":
                    kept.append(event)
            for event in kept:
                self.queue.put_nowait(event)
        super().connection_lost(exc)
