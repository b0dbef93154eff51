"""Prometheus metrics of the module, in ``prometheus_client``'s default registry.

The host exposes that registry with its own metrics (the stub host on
``SCAIGRID_METRICS_PORT``); ``docs/operators.md`` lists every series. Labels never carry
tenant ids, users or addresses: the series count stays bounded and a scrape reveals nobody.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

TRANSCRIPTIONS = Counter(
    "scaiecho_transcriptions",
    "Finished transcriptions by mode (sync, job, stream), backend and outcome.",
    ["mode", "backend", "outcome"],
)
AUDIO_SECONDS = Counter(
    "scaiecho_audio_seconds", "Audio seconds transcribed and metered.", ["mode", "backend"]
)
DIARIZED_SECONDS = Counter(
    "scaiecho_diarized_audio_seconds", "Audio seconds diarized (speaker labels) and metered.", ["mode"]
)
ERRORS = Counter("scaiecho_errors", "Errors returned to callers, by stable error code.", ["code"])
ADMISSION_REFUSED = Counter(
    "scaiecho_admission_refused",
    "Inline transcriptions refused by admission control, by the limit hit (tenant, process).",
    ["limit"],
)
LIVE_SESSIONS = Gauge("scaiecho_live_sessions", "Live sessions open in this process.", ["backend"])
LIVE_FINAL_SECONDS = Histogram(
    "scaiecho_live_final_seconds",
    "From the arrival of the audio at a live final's end to the final leaving the session "
    "(the endpointing silence, the decode and the speaker label), by transport.",
    ["transport"],
    buckets=(0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 15),
)
WEBRTC_PACKETS_LOST = Counter(
    "scaiecho_webrtc_packets_lost",
    "Received WebRTC audio packets given up as lost (their 20 ms filled with silence).",
)
NODE_REQUEST_SECONDS = Histogram(
    "scaiecho_node_request_seconds",
    "Time a self-hosted node took to answer one engine request.",
    ["node"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128),
)
NODE_FAILURES = Counter("scaiecho_node_failures", "Requests a self-hosted node failed.", ["node"])
RELAY_REQUEST_SECONDS = Histogram(
    "scaiecho_relay_request_seconds",
    "Time a managed STT relay took to answer one recognition (Backend B).",
    ["relay"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64),
)
RELAY_FAILURES = Counter(
    "scaiecho_relay_failures",
    "Relay calls that failed for good (after retries), by category (deadline_exceeded, ...).",
    ["relay", "category"],
)


class NodePoolCollector(Collector):
    """Node gauges read from the pool at scrape time (never stale, nothing to update)."""

    def __init__(self, nodes: Callable[[], Sequence[Any]]) -> None:
        self._nodes = nodes

    def collect(self) -> Iterator[GaugeMetricFamily]:
        healthy = GaugeMetricFamily("scaiecho_node_healthy", "1 while the node is ready.", labels=["node"])
        in_flight = GaugeMetricFamily(
            "scaiecho_node_in_flight", "Requests this process has in flight on the node.", labels=["node"]
        )
        for node in self._nodes():
            healthy.add_metric([node.node_id], 1.0 if node.healthy else 0.0)
            in_flight.add_metric([node.node_id], float(node.in_flight))
        yield healthy
        yield in_flight


def register_pool(nodes: Callable[[], Sequence[Any]]) -> Callable[[], None]:
    """Add the pool's gauges to the registry; returns the function that removes them."""
    collector = NodePoolCollector(nodes)
    REGISTRY.register(collector)
    return lambda: REGISTRY.unregister(collector)
