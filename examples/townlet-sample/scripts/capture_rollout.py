#!/usr/bin/env python3
"""Capture a rollout of the sample as replay samples, like Townlet's `capture_rollout.py`.

Usage: capture_rollout.py CONFIG --output DIR [--ticks N] [--prefix PREFIX]

Writes, for the scenario's agent (`scenario.agent`, else the first agent):
- `PREFIX_<agent>_001.npz`: `map` (T, 4, 11, 11) float32, `features` (T, 16) float32,
  `actions` int64 (T,), `old_log_probs` float32 (T,), `value_preds` float32 (T + 1,),
  `rewards` float32 (T,), `dones` bool (T,); plain arrays, no pickles;
- `PREFIX_<agent>_001.json`: the sample's metadata (feature names, frame count) and
  `capture_metadata` with the config's absolute path and the capture time;
- `PREFIX_manifest.json` and `PREFIX_metrics.json` (reward sum and mean, actions), each with
  a `metadata` block holding the same path and time.
The tensors are deterministic; the timestamps and paths are not. The scenario's `ticks`
(`scenario.ticks`) wins over `--ticks`. Like Townlet, it configures no logging.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from townlet.core.capture import RolloutCapture
from townlet.core.config import ConfigError, config_from_mapping
from townlet.core.sim_loop import SimulationLoop
from townlet.observations.builder import FEATURE_NAMES, ObservationBuilder
from townlet.telemetry.worker import TelemetryWorker


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="simulation or scenario config (YAML)")
    parser.add_argument("--output", type=Path, required=True, help="directory for the samples")
    parser.add_argument("--ticks", type=int, default=100, help="ticks to run (default 100)")
    parser.add_argument("--prefix", default="rollout_sample", help="file name prefix")
    return parser.parse_args(argv)


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        data = yaml.safe_load(args.config.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ConfigError(f"config `{args.config}` must be a mapping at the top level")
        config = config_from_mapping(data, source=str(args.config))
    except (OSError, yaml.YAMLError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    scenario = data.get("scenario") if isinstance(data.get("scenario"), dict) else {}
    ticks = int(scenario.get("ticks", args.ticks))
    # Payloads go nowhere: the replay samples are the output.
    with open("/dev/null", "w", encoding="utf-8") as sink:
        worker = TelemetryWorker(sink, flush_interval_ticks=config.transport.flush_interval_ticks)
        loop = SimulationLoop(config, worker)
        agent = str(scenario.get("agent", min(loop.world.agents)))
        capture = RolloutCapture(ObservationBuilder(config.lateness_threshold), agent)
        for tick in range(1, ticks + 1):
            capture.before_tick(loop.world)
            loop.step()
            capture.after_tick(loop.world, last_tick=tick == ticks)
        worker.close()
    arrays = capture.arrays()
    steps = len(arrays["actions"])
    args.output.mkdir(parents=True, exist_ok=True)
    stem = f"{args.prefix}_{agent}_001"
    np.savez(
        args.output / f"{stem}.npz",
        map=arrays["map"],
        features=arrays["features"],
        actions=arrays["actions"],
        old_log_probs=np.zeros(steps, dtype=np.float32),
        value_preds=np.zeros(steps + 1, dtype=np.float32),
        rewards=arrays["rewards"],
        dones=arrays["dones"],
    )
    metadata = {
        "config_path": str(args.config.resolve()),
        "config_id": config.config_id,
        "ticks": ticks,
        "capture_timestamp": datetime.now(UTC).isoformat(),
    }
    write_json(
        args.output / f"{stem}.json",
        {
            "agent_id": agent,
            "frame_count": steps,
            "feature_names": list(FEATURE_NAMES),
            "capture_metadata": metadata,
        },
    )
    write_json(
        args.output / f"{args.prefix}_manifest.json",
        {
            "metadata": metadata,
            "samples": [{"sample": f"{stem}.npz", "meta": f"{stem}.json", "agent_id": agent}],
        },
    )
    rewards = arrays["rewards"]
    write_json(
        args.output / f"{args.prefix}_metrics.json",
        {
            "metadata": metadata,
            "samples": {
                f"{stem}.npz": {
                    "timesteps": float(steps),
                    "reward_sum": float(rewards.sum()),
                    "reward_mean": float(rewards.mean()) if steps else 0.0,
                    "action_total": float(steps),
                }
            },
        },
    )
    print(f"Captured 1 replay samples to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
