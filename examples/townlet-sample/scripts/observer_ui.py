#!/usr/bin/env python3
"""Observer dashboard for the sample simulation.

Usage: observer_ui.py CONFIG --ticks N --refresh SECONDS

One tick per refresh. On a terminal it draws a dashboard (a `Telemetry` panel with `Tick: N`,
an `Agents` panel) redrawn in place; otherwise it draws nothing and only writes the JSON
telemetry lines of the stdout transport, as Townlet's observer does. `--ticks 0` runs until
SIGINT or SIGTERM, which end it cleanly with exit code 0.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import select
import signal
import sys
import time
from pathlib import Path
from types import FrameType

# The handler only sets a flag and writes one byte to a pipe: a handler that took a lock
# (as `threading.Event.set` does) deadlocks when the signal lands while the main thread holds
# that lock, and the UI then never stops.
_wake_read, _wake_write = os.pipe()
os.set_blocking(_wake_write, False)
_stopping = False


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _stopping
    _stopping = True
    # A full pipe means a wake-up is already pending.
    with contextlib.suppress(BlockingIOError):
        os.write(_wake_write, b"x")


def stop_requested() -> bool:
    return _stopping


def wait_for_stop(seconds: float) -> None:
    """Sleep up to `seconds`, returning as soon as a stop is requested."""
    if not _stopping:
        select.select([_wake_read], [], [], seconds)


# Installed before the slow imports below, so a stop request during start-up is clean too.
signal.signal(signal.SIGINT, _on_signal)
signal.signal(signal.SIGTERM, _on_signal)

from townlet.core.config import ConfigError, load_config  # noqa: E402
from townlet.core.logs import configure_logging  # noqa: E402
from townlet.core.sim_loop import SimulationLoop, TickHealth  # noqa: E402
from townlet.telemetry.payload import SCHEMA_VERSION  # noqa: E402
from townlet.telemetry.worker import TelemetryWorker  # noqa: E402
from townlet.world.state import NEEDS, WorldState  # noqa: E402

# Test hook for the rollout tooling: crash with a traceback after the first frame.
CRASH_ENV = "TOWNLET_SAMPLE_UI_CRASH"
WIDTH = 80


def panel(title: str, rows: list[str], width: int = WIDTH) -> list[str]:
    """A box with rounded corners and a centred title, each row padded to the width."""
    inner = width - 2
    label = f" {title} "
    left = (inner - len(label)) // 2
    top = "╭" + "─" * left + label + "─" * (inner - left - len(label)) + "╮"
    body = ["│ " + row[: inner - 2].ljust(inner - 2) + " │" for row in rows]
    return [top, *body, "╰" + "─" * inner + "╯"]


def two_columns(left: str, right: str, width: int = WIDTH - 4) -> str:
    gap = max(1, width - len(left) - len(right))
    return left + " " * gap + right


def bar(value: float, cells: int = 10) -> str:
    filled = max(0, min(cells, round(value * cells)))
    return "█" * filled + "·" * (cells - filled)


def render(world: WorldState, health: TickHealth, transport: str) -> str:
    dropped = health.dropped
    warning = "OK" if dropped == 0 else f"{dropped} dropped"
    telemetry = [
        two_columns(f"Schema: {SCHEMA_VERSION}", f"Warning: {warning}"),
        two_columns(f"Tick: {health.tick}", f"Refreshed: {time.strftime('%H:%M:%S')}"),
        two_columns(f"Transport: {transport.upper()}", f"Dropped: {dropped}"),
        two_columns(
            f"Queue backlog: {health.queue}", f"Tick duration: {health.duration_ms:.1f} ms"
        ),
        two_columns(
            f"Perturbations: pending {health.perturbations_pending} "
            f"/ active {health.perturbations_active}",
            f"Exit queue: {health.exit_queue}",
        ),
    ]
    agents = []
    for agent_id, agent in sorted(world.agents.items()):
        needs = "  ".join(
            f"{need[:3].title()} {agent.needs[need]:>4.0%} {bar(agent.needs[need], 4)}"
            for need in NEEDS
        )
        agents.append(f"{agent_id} • {agent.job:<7} • {agent.activity:<9} {needs}")
    lines = panel("Telemetry", telemetry) + panel("Agents", agents or ["No agents"])
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="simulation config (YAML)")
    parser.add_argument("--ticks", type=int, default=0, help="ticks to run; 0 runs forever")
    parser.add_argument("--refresh", type=float, default=1.0, help="seconds between ticks")
    args = parser.parse_args(argv)
    if args.ticks < 0:
        parser.error("--ticks must be 0 (forever) or positive")
    if args.refresh < 0:
        parser.error("--refresh must not be negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(logging.WARNING)
    try:
        config = load_config(args.config)
    except ConfigError as err:
        logging.getLogger("townlet.scripts.observer_ui").error("%s", err)
        return 2
    if stop_requested():
        return 0
    interactive = sys.stdout.isatty()
    # The stdout transport writes JSON lines; on a terminal the dashboard replaces them.
    sink = io.StringIO() if interactive or config.transport.type != "stdout" else sys.stdout
    worker = TelemetryWorker(sink, flush_interval_ticks=1)
    loop = SimulationLoop(config, worker)
    crash = os.environ.get(CRASH_ENV) == "1"
    if interactive:
        sys.stdout.write("\x1b[?25l\x1b[2J")
    try:
        while not stop_requested() and (args.ticks == 0 or loop.world.tick < args.ticks):
            health = loop.step()
            if interactive:
                sink.seek(0)
                sink.truncate()
                frame = render(loop.world, health, config.transport.type)
                sys.stdout.write("\x1b[H" + frame.replace("\n", "\x1b[K\n") + "\x1b[K\x1b[J")
                sys.stdout.flush()
            if crash:
                raise RuntimeError(f"{CRASH_ENV}=1: simulated observer UI crash after one frame")
            if args.ticks == 0 or loop.world.tick < args.ticks:
                wait_for_stop(args.refresh)
    finally:
        if interactive:
            sys.stdout.write("\x1b[?25h\n")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
