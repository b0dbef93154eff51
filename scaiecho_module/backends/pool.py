"""Backend A's node pool: the nodes by capability, their readiness, and their shared state.

``pick(capability)`` gives the least busy healthy node that has the capability (one request,
one node); ``broadcast(capability, call)`` runs a call on every such node (what must reach
them all: a speaker enrolled, a speaker evicted). The pool polls the remote nodes for
readiness and shares what it learns through a ``HealthBoard`` (``node_health.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from scaiecho_module import metrics
from scaiecho_module.backends.node import Capability, Node, NodeFailedError
from scaiecho_module.backends.node_health import HealthBoard, LocalBoard, NodeState
from scaiecho_module.errors import BACKEND_UNAVAILABLE, ScaiEchoError

logger = logging.getLogger("scaiecho.nodes")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BroadcastResult(Generic[T]):
    """Per node id, what the call returned or raised, in the pool's order."""

    results: dict[str, T] = field(default_factory=dict)
    errors: dict[str, Exception] = field(default_factory=dict)


class NodePool:
    def __init__(self, nodes: Sequence[Node], board: HealthBoard | None = None) -> None:
        self.nodes = list(nodes)
        self._board = board or LocalBoard()
        self._remote = [node for node in self.nodes if node.kind.remote]
        self._by_id = {node.node_id: node for node in self._remote}
        self._poller: asyncio.Task[None] | None = None

    def serving(self, capability: Capability) -> list[Node]:
        """The healthy nodes that have the capability now."""
        return [node for node in self.nodes if node.healthy and capability in node.capabilities()]

    def available(self, capability: Capability) -> bool:
        return bool(self.serving(capability))

    def pick(self, capability: Capability, exclude: frozenset[str] = frozenset()) -> Node:
        """The least busy healthy node with the capability; the first listed among equals."""
        candidates = [node for node in self.serving(capability) if node.node_id not in exclude]
        if not candidates:
            raise ScaiEchoError(
                BACKEND_UNAVAILABLE, f"no healthy self-hosted {capability.name} node", {"backend": "A"}
            )
        return min(candidates, key=lambda node: node.in_flight)

    async def broadcast(
        self, capability: Capability, call: Callable[[Node], Awaitable[T]]
    ) -> BroadcastResult[T]:
        """Run ``call`` on every healthy node with the capability, all at once.

        A node that raises has its error in ``errors`` (a ``NodeFailedError`` also marks it
        failed, as for ``pick``); no node with the capability gives an empty result, and the
        caller decides what that means.
        """
        nodes = self.serving(capability)
        outcomes = await asyncio.gather(*(call(node) for node in nodes), return_exceptions=True)
        result: BroadcastResult[T] = BroadcastResult()
        for node, outcome in zip(nodes, outcomes, strict=True):
            if isinstance(outcome, NodeFailedError):
                await self.failed(node)
            if isinstance(outcome, Exception):
                result.errors[node.node_id] = outcome
            elif isinstance(outcome, BaseException):
                raise outcome  # cancelled: not a node's answer
            else:
                result.results[node.node_id] = outcome
        return result

    async def failed(self, node: Node) -> None:
        """A request on ``node`` raised ``NodeFailedError``: count it and tell other processes."""
        metrics.NODE_FAILURES.labels(node.node_id).inc()
        if node.kind.remote:
            await self._publish({node.node_id: node.state})

    async def start(self, poll_seconds: float) -> None:
        """Check the remote nodes once, then keep polling them (no task without any)."""
        if not self._remote:
            return
        await asyncio.gather(*(node.check() for node in self._remote))
        await self._publish({node.node_id: node.state for node in self._remote})
        self._poller = asyncio.create_task(self._poll_forever(poll_seconds))

    async def _poll_forever(self, poll_seconds: float) -> None:
        # With a shared board, states written by other processes are read about once a second
        # (a node another process saw fail is avoided here too); the lease holder polls.
        tick = min(poll_seconds, 1.0) if self._board.shared else poll_seconds
        next_poll = asyncio.get_running_loop().time() + poll_seconds
        while True:
            await asyncio.sleep(tick)
            # One node's (or Redis's) odd failure must never end the poller: nodes could not recover.
            try:
                if asyncio.get_running_loop().time() >= next_poll:
                    next_poll += poll_seconds
                    if await self._holds_lease(poll_seconds):
                        await self._check()
                        await self._publish({node.node_id: node.state for node in self._remote})
                if self._board.shared:
                    for node_id, state in (await self._board.read()).items():
                        if node_id in self._by_id:
                            self._by_id[node_id].apply(state)
            except Exception:
                logger.exception("updating the node states failed")

    async def _holds_lease(self, poll_seconds: float) -> bool:
        try:
            return await self._board.take_poller_lease(poll_seconds)
        except Exception:
            logger.exception("the node board is unreachable; polling the nodes from this process")
            return True

    async def _check(self) -> None:
        results = await asyncio.gather(*(node.check() for node in self._remote), return_exceptions=True)
        for node, result in zip(self._remote, results, strict=True):
            if isinstance(result, BaseException):
                logger.error("polling node %s failed", node.node_id, exc_info=result)

    async def _publish(self, states: dict[str, NodeState]) -> None:
        try:
            await self._board.publish(states)
        except Exception:
            logger.exception("publishing node states failed")

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        for node in self.nodes:
            await node.close()
        await self._board.close()
