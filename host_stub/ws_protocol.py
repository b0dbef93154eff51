"""uvicorn's WebSocket protocol: a reset's disconnect first, and a client's Close held.

**Resets.** uvicorn queues each message it reads for the app and pauses reading until the
app takes it. When the client resets the connection (an RST: its network died, it was
killed), the ``websocket.disconnect`` is queued behind the messages already read. An app
that reads slowly on purpose (a live session applying backpressure) would learn of the reset
only after working through them, for a client that can no longer receive any answer. On a
reset those messages are dropped, so the app's next ``receive()`` is the disconnect, and
its code says the connection was lost (1006), not closed by a Close frame.

**Half close** (the ``WS_HALF_CLOSE`` extension of the host contract). ``websocat -b``
sends a Close frame the moment its input ends, just after the client's last message, and
then prints what still arrives until the server's Close. uvicorn answers a Close at once
and stops, so such a client never sees the transcript of the audio it sent. An app that
asks for it gets the client's Close as a message instead; its last answers still go out,
and its own close completes the handshake. RFC 6455 lets an endpoint finish what it is
sending before it answers a Close; ``LINGER_SECONDS`` bounds how long that may take.

An orderly end keeps its order: the client may still be waiting for the answers to what it
sent before it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import State

from scaiecho_module.host_contract import WS_HALF_CLOSE


class PromptResetWSProtocol(WebSocketsSansIOProtocol):
    LINGER_SECONDS = 30.0  # a client's Close waits at most this long for the app's answers

    _half_close_asked = False
    _held_close: Close | None = None  # the client's Close, not yet answered
    _linger: asyncio.TimerHandle | None = None

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        if getattr(self, "scope", None) is not None:
            self.scope["extensions"] = {**(self.scope.get("extensions") or {}), WS_HALF_CLOSE: {}}

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger is not None:
            self._linger.cancel()
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
        lost_without_close = self.conn.close_rcvd is None
        super().connection_lost(exc)
        if lost_without_close and self.handshake_complete:
            # uvicorn says 1005 (a Close without a code) for a connection that simply went
            # away; RFC 6455 reserves 1006 for that, and the app tells the two apart by it.
            self._recode_last_disconnect(1006)

    def _recode_last_disconnect(self, code: int) -> None:
        events = []
        while True:
            try:
                events.append(self.queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        if events and events[-1]["type"] == "websocket.disconnect":
            events[-1] = {**events[-1], "code": code}
        for event in events:
            self.queue.put_nowait(event)

    def handle_close(self, event: Frame) -> None:
        if not self._half_close_asked or self.close_sent or self.transport.is_closing():
            super().handle_close(event)
            return
        close = self.conn.close_rcvd
        assert close is not None
        self.conn.data_to_send()  # websockets framed the echo already: the app's close replaces it
        self.conn.state = State.OPEN  # the app's last answers can still be framed (reads are discarded)
        self.stop_keepalive()  # no pong can come back after a Close
        self._held_close = close
        held = {"code": close.code, "reason": close.reason}
        receive: Any = {"type": "websocket.receive", "bytes": None, "text": None, WS_HALF_CLOSE: held}
        self.queue.put_nowait(receive)  # the ASGI types know no extension keys
        self._linger = self.loop.call_later(self.LINGER_SECONDS, self._answer_close, close.code, close.reason)

    async def send(self, message: Any) -> None:
        if message["type"] == WS_HALF_CLOSE:
            self._half_close_asked = True
            return
        if self._held_close is not None and message["type"] == "websocket.close":
            await self.writable.wait()
            self._answer_close(message.get("code", 1000), message.get("reason") or "")
            return
        await super().send(message)

    def _answer_close(self, code: int, reason: str) -> None:
        """Complete the closing handshake the client started; the connection then ends."""
        if self._held_close is None or self.transport.is_closing():
            return
        if self._linger is not None:
            self._linger.cancel()
        self._held_close = None
        # 1005 stands for "no code": such a Close carries no payload.
        payload = b"" if code == 1005 else Close(code, reason).serialize()
        self.conn.send_frame(Frame(Opcode.CLOSE, payload))
        self.conn.state = State.CLOSED
        self.close_sent = True
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.transport.close()
