"""The gateway's Prometheus metrics: one ``Metrics`` per ``Gateway``, handed down to the parts that count.

Each gateway has its own ``CollectorRegistry`` (never prometheus_client's global one), so several gateways
in one process (the tests) keep their own figures. Names follow Prometheus' conventions (``faxgw_``
prefix, ``_total`` counters, seconds); labels take few values: a direction, a mode, a status word, a
configured trunk's name, a route template, never a fax's id or a number. The README's "Metrics" section
lists every metric (tests/metrics/test_readme.py holds it to that).

This module imports nothing of the gateway: the jobs (calls, faxes, pages), the webhooks (failures), the
service (what is read at scrape time: engine status, outbox) and the API (latency) all sit above it. What
they hand in is plain values, or anything shaped like ``MediaCounts`` (``sip.diagnostics.MediaFigures`` is).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "MediaCounts", "Metrics", "MetricsConfig"]

#: API latency buckets (seconds): most calls are a few milliseconds, an upload of a large PDF seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class MetricsConfig:
    """[metrics] in the config file."""

    #: The bearer token GET /metrics asks for (``Authorization: Bearer <token>``); None: /metrics is open.
    token: str | None = None


class MediaCounts(Protocol):
    """One media stream's figures at a call's end (``sip.diagnostics.MediaFigures``)."""

    @property
    def kind(self) -> str: ...  # "rtp" or "udptl"

    @property
    def packets_received(self) -> int: ...

    @property
    def lost(self) -> int: ...

    @property
    def late(self) -> int: ...

    @property
    def recovered(self) -> int: ...


class Metrics:
    """This gateway's instruments, in its own registry; the parts that count use them directly."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.calls_in_progress = Gauge(
            "faxgw_calls_in_progress",
            "Fax calls in progress, by direction, mode (t38, g711, relay) and trunk or device",
            ["direction", "mode", "trunk"],
            registry=registry,
        )
        self.faxes = Counter(
            "faxgw_faxes",
            "Faxes that reached a final status, by direction and that status",
            ["direction", "status"],
            registry=registry,
        )
        self.attempts = Counter(
            "faxgw_attempts",
            "Calls (attempts) ended, by direction and how the attempt ended (its fax status)",
            ["direction", "cause"],
            registry=registry,
        )
        self.pages = Counter(
            "faxgw_pages", "Fax pages sent or received, by direction", ["direction"], registry=registry
        )
        self.calls_ended = Counter(
            "faxgw_calls_ended",
            "Calls ended, by direction and the media the fax ran on (t38 or g711)",
            ["direction", "mode"],
            registry=registry,
        )
        self.media_packets = Counter(
            "faxgw_media_packets",
            "RTP and UDPTL packets arrived, lost, late, or recovered from redundancy, at each call's end",
            ["kind", "outcome"],
            registry=registry,
        )
        self.webhook_queue = Gauge(
            "faxgw_webhook_queue_depth", "Webhook deliveries pending in the outbox", registry=registry
        )
        self.webhook_failures = Counter(
            "faxgw_webhook_delivery_failures",
            "Webhook delivery attempts that failed, by what followed (retry, or failed: given up)",
            ["outcome"],
            registry=registry,
        )
        self.api_latency = Histogram(
            "faxgw_api_request_duration_seconds",
            "REST API request durations until the response began, by method and route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.registered_devices = Gauge(
            "faxgw_registered_devices", "Configured devices with a registered contact", registry=registry
        )
        self.trunk_up = Gauge(
            "faxgw_trunk_up",
            "1 while a trunk answers OPTIONS (one of its hosts), else 0",
            ["trunk"],
            registry=registry,
        )
        self._calls_seen: set[tuple[str, str, str]] = set()

    def call_ended(
        self, direction: str, cause: str, *, t38: bool, pages: int, media: Iterable[MediaCounts]
    ) -> None:
        """One call ended: an attempt of an outbound fax, or an arriving call, ``cause`` its status (a
        FaxStatus word), with its pages and its media's figures."""
        self.attempts.labels(direction, cause).inc()
        self.calls_ended.labels(direction, "t38" if t38 else "g711").inc()
        if pages > 0:
            self.pages.labels(direction).inc(pages)
        for stream in media:
            kind = stream.kind if stream.kind in ("rtp", "udptl") else "other"
            for outcome, count in (
                ("arrived", stream.packets_received),
                ("lost", stream.lost),
                ("late", stream.late),
                ("recovered", stream.recovered),
            ):
                if count > 0:
                    self.media_packets.labels(kind, outcome).inc(count)

    def calls_now(self, calls: Mapping[tuple[str, str, str], int]) -> None:
        """The calls in progress now, counted by (direction, mode, trunk or device). A combination seen
        before and gone now reads 0: a series that vanished would look like missing data, not no calls."""
        self._calls_seen |= set(calls)
        for labels in self._calls_seen:
            self.calls_in_progress.labels(*labels).set(calls.get(labels, 0))

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format (``CONTENT_TYPE_LATEST``)."""
        return generate_latest(self.registry)
