#!/usr/bin/env python3
"""Run the sample simulation and write its telemetry stream (and optionally observations).

Usage: run_simulation.py CONFIG --ticks N --telemetry-path PATH [--observations-path PATH.npz]

Deterministic: the same arguments always write byte-identical files. Like Townlet's script it
configures no logging: its `tick_health` lines and drop warnings are written only when the
caller sets Python logging up at INFO.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from townlet.core.capture import RolloutCapture
from townlet.core.config import ConfigError, load_config
from townlet.core.sim_loop import SimulationLoop
from townlet.observations.builder import ObservationBuilder
from townlet.telemetry.worker import TelemetryWorker


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {text}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="simulation config (YAML)")
    parser.add_argument("--ticks", type=positive_int, required=True, help="ticks to run")
    parser.add_argument(
        "--telemetry-path", type=Path, required=True, help="where to write the JSONL stream"
    )
    parser.add_argument(
        "--observations-path", type=Path, help="also write the first agent's rollout (.npz)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args.telemetry_path.parent.mkdir(parents=True, exist_ok=True)
    with args.telemetry_path.open("w", encoding="utf-8", newline="\n") as sink:
        worker = TelemetryWorker(
            sink,
            max_buffer_bytes=config.transport.max_buffer_bytes,
            flush_interval_ticks=config.transport.flush_interval_ticks,
            max_batch_size=config.transport.max_batch_size,
        )
        loop = SimulationLoop(config, worker)
        capture = None
        if args.observations_path is not None:
            capture = RolloutCapture(
                ObservationBuilder(config.lateness_threshold), min(loop.world.agents)
            )
        try:
            for _ in range(args.ticks):
                if capture is not None:
                    capture.before_tick(loop.world)
                loop.step()
                if capture is not None:
                    capture.after_tick(loop.world, last_tick=loop.world.tick == args.ticks)
        finally:
            worker.close()
    if capture is not None and args.observations_path is not None:
        args.observations_path.parent.mkdir(parents=True, exist_ok=True)
        capture.save(args.observations_path)
    print(f"Telemetry stream written to {args.telemetry_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
