"""The telemetry worker: buffers encoded payloads and flushes them to a sink.

A deterministic stand-in for Townlet's background worker. Each tick's payload enters the
buffer; every `flush_interval_ticks` ticks up to `max_batch_size` payloads are written. When
the buffered bytes exceed `max_buffer_bytes`, the oldest buffered payloads are dropped (never
written) and a warning names the budget and the count, as Townlet does under backpressure.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any, TextIO

from townlet.telemetry.payload import encode

logger = logging.getLogger("townlet.telemetry.worker")


class TelemetryWorker:
    def __init__(
        self,
        sink: TextIO,
        *,
        max_buffer_bytes: int | None = None,
        flush_interval_ticks: int = 1,
        max_batch_size: int = 32,
    ) -> None:
        if max_buffer_bytes is not None and max_buffer_bytes <= 0:
            raise ValueError("max_buffer_bytes must be positive")
        self.sink = sink
        self.max_buffer_bytes = max_buffer_bytes
        self.flush_interval_ticks = max(1, flush_interval_ticks)
        self.max_batch_size = max(1, max_batch_size)
        self._buffer: deque[str] = deque()
        self._buffered_bytes = 0
        self.dropped_total = 0
        self.payloads_total = 0
        self.bytes_total = 0
        self.last_flush_ms: float | None = None

    @property
    def queue_length(self) -> int:
        return len(self._buffer)

    def submit(self, payload: dict[str, Any]) -> int:
        """Buffer one payload; return how many payloads were dropped to respect the budget."""
        line = encode(payload) + "\n"
        self._buffer.append(line)
        self._buffered_bytes += len(line.encode("utf-8"))
        dropped = 0
        budget = self.max_buffer_bytes
        while budget is not None and self._buffer and self._buffered_bytes > budget:
            oldest = self._buffer.popleft()
            self._buffered_bytes -= len(oldest.encode("utf-8"))
            dropped += 1
        if dropped:
            self.dropped_total += dropped
            logger.warning(
                "Telemetry buffer exceeded %d bytes; dropped %d payloads", budget, dropped
            )
        return dropped

    def end_tick(self, tick: int) -> None:
        """Flush when `tick` ends a flush interval."""
        if tick % self.flush_interval_ticks == 0:
            self.flush(self.max_batch_size)

    def flush(self, limit: int | None = None) -> int:
        """Write up to `limit` buffered payloads (all when None); return how many."""
        started = time.perf_counter()
        written = 0
        while self._buffer and (limit is None or written < limit):
            line = self._buffer.popleft()
            size = len(line.encode("utf-8"))
            self._buffered_bytes -= size
            self.sink.write(line)
            self.payloads_total += 1
            self.bytes_total += size
            written += 1
        if written:
            self.sink.flush()
            self.last_flush_ms = (time.perf_counter() - started) * 1000.0
        return written

    def close(self) -> None:
        """Write everything still buffered."""
        self.flush()
