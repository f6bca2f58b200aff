"""Shared fixtures: small configs built in code, and paths of the sample's files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from townlet.core.config import SimulationConfig, config_from_mapping

ROOT = Path(__file__).resolve().parent.parent
HYBRID_CONFIG = ROOT / "configs" / "examples" / "poc_hybrid.yaml"


def make_config(**overrides: Any) -> SimulationConfig:
    """A config like the capture config, with top-level sections replaced by `overrides`."""
    data: dict[str, Any] = {
        "config_id": "test",
        "world": {"grid_size": [16, 16], "weather_seed": 7, "agent_count": 4, "ticks_per_day": 120},
        "jobs": {
            "grocer": {"start_tick": 40, "end_tick": 80, "wage_rate": 0.02, "location": [0, 0]},
        },
        "behavior": {"hunger_threshold": 0.4, "job_arrival_buffer": 12},
        "employment": {"daily_exit_cap": 2, "queue_limit": 8, "review_window": 240},
        "stability": {"lateness_threshold": 2},
    }
    data.update(overrides)
    return config_from_mapping(data)


@pytest.fixture
def config() -> SimulationConfig:
    return make_config()
