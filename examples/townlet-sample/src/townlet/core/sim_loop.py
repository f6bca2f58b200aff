"""The tick loop: step the world, publish telemetry, log `tick_health`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from townlet.core.config import SimulationConfig
from townlet.telemetry.payload import TelemetryPublisher
from townlet.telemetry.worker import TelemetryWorker
from townlet.world.state import WorldState

logger = logging.getLogger("townlet.core.sim_loop")


@dataclass(frozen=True)
class TickHealth:
    tick: int
    duration_ms: float
    queue: int
    dropped: int
    flush_ms: float | None
    payloads_total: int
    bytes_total: int
    perturbations_pending: int
    perturbations_active: int
    exit_queue: int

    def log_line(self) -> str:
        flush = "None" if self.flush_ms is None else f"{self.flush_ms:.2f}"
        return (
            f"tick_health tick={self.tick} duration_ms={self.duration_ms:.2f} "
            f"queue={self.queue} dropped={self.dropped} flush_ms={flush} "
            f"payloads_total={self.payloads_total} bytes_total={self.bytes_total} "
            f"perturbations_pending={self.perturbations_pending} "
            f"perturbations_active={self.perturbations_active} exit_queue={self.exit_queue}"
        )


class SimulationLoop:
    """Runs the world tick by tick and feeds every payload to the telemetry worker."""

    def __init__(self, config: SimulationConfig, worker: TelemetryWorker) -> None:
        self.config = config
        self.world = WorldState(config)
        self.worker = worker
        self.publisher = TelemetryPublisher()
        self.last_payload: dict[str, object] | None = None
        self.last_health: TickHealth | None = None

    def step(self) -> TickHealth:
        started = time.perf_counter()
        self.world.step()
        payload = self.publisher.publish(self.world)
        self.last_payload = payload
        self.worker.submit(payload)
        self.worker.end_tick(self.world.tick)
        health = TickHealth(
            tick=self.world.tick,
            duration_ms=(time.perf_counter() - started) * 1000.0,
            queue=self.worker.queue_length,
            dropped=self.worker.dropped_total,
            flush_ms=self.worker.last_flush_ms,
            payloads_total=self.worker.payloads_total,
            bytes_total=self.worker.bytes_total,
            perturbations_pending=len(self.world.pending_perturbations()),
            perturbations_active=len(self.world.perturbation_active),
            exit_queue=self.world.employment.pending_count,
        )
        self.last_health = health
        logger.info("%s", health.log_line())
        return health

    def run(self, ticks: int, on_tick: Callable[[TickHealth], None] | None = None) -> None:
        """Run `ticks` ticks (forever when 0), then flush the worker."""
        try:
            while ticks == 0 or self.world.tick < ticks:
                health = self.step()
                if on_tick is not None:
                    on_tick(health)
        finally:
            self.worker.close()
