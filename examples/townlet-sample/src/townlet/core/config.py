"""Load a simulation config (YAML, in the shape of Townlet's `configs/*.yaml`).

Only the keys the sample simulates are read; every other key is ignored, as Townlet forwards
unknown sections to modules that may not exist here. Missing keys take Townlet-like defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class JobSpec:
    name: str
    start_tick: int
    end_tick: int
    wage_rate: float
    location: tuple[int, int]


@dataclass(frozen=True)
class TransportSettings:
    type: str = "stdout"
    max_batch_size: int = 32
    # Townlet's default budget; payloads beyond it are dropped under backpressure.
    max_buffer_bytes: int = 256_000
    flush_interval_ticks: int = 1


@dataclass(frozen=True)
class SimulationConfig:
    config_id: str = "sample"
    seed: int = 1337
    grid_size: tuple[int, int] = (16, 16)
    agent_count: int = 4
    ticks_per_day: int = 240
    decay_rates: dict[str, float] = field(
        default_factory=lambda: {"hunger": 0.01, "hygiene": 0.005, "energy": 0.008}
    )
    need_threshold: float = 0.4
    job_arrival_buffer: int = 20
    jobs: tuple[JobSpec, ...] = ()
    daily_exit_cap: int = 2
    queue_limit: int = 8
    review_window: int = 1440
    lateness_threshold: int = 3
    cooldown_ticks: int = 60
    ghost_step_after: int = 3
    embedding_cooldown_ticks: int = 2000
    embedding_max_slots: int = 64
    reuse_warning_threshold: float = 0.05
    transport: TransportSettings = field(default_factory=TransportSettings)


class ConfigError(Exception):
    """The config file is missing, unreadable or has a value of the wrong type."""


def _section(data: dict[str, Any], *path: str) -> dict[str, Any]:
    node: Any = data
    for key in path:
        if not isinstance(node, dict):
            return {}
        node = node.get(key, {})
    return node if isinstance(node, dict) else {}


def _buffer_bytes(value: Any) -> int:
    # Townlet's pydantic model allows 1024 to 16 MiB.
    budget = int(value)
    if not 1024 <= budget <= 16_777_216:
        raise ValueError(
            f"telemetry.transport.buffer.max_buffer_bytes must be 1024..16777216, found {budget}"
        )
    return budget


def _cell(value: Any) -> tuple[int, int]:
    return (int(value[0]), int(value[1]))


def load_config(path: str | Path) -> SimulationConfig:
    """Read `path` and return the settings the sample uses."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read config `{path}`: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"invalid YAML in `{path}`: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"config `{path}` must be a mapping at the top level")
    return config_from_mapping(data, source=str(path))


def config_from_mapping(data: dict[str, Any], source: str = "<config>") -> SimulationConfig:
    """Build a config from an already parsed mapping."""
    try:
        world = _section(data, "world")
        grid = world.get("grid_size", [16, 16])
        jobs = tuple(
            JobSpec(
                name=str(name),
                start_tick=int(spec.get("start_tick", 0)),
                end_tick=int(spec.get("end_tick", 0)),
                wage_rate=float(spec.get("wage_rate", 0.0)),
                location=_cell(spec.get("location", [0, 0])),
            )
            for name, spec in sorted(_section(data, "jobs").items())
            if isinstance(spec, dict)
        )
        rates = _section(data, "rewards", "decay_rates")
        behavior = _section(data, "behavior")
        employment = _section(data, "employment")
        fairness = _section(data, "queue_fairness")
        embedding = _section(data, "embedding_allocator")
        buffer = _section(data, "telemetry", "transport", "buffer")
        defaults = SimulationConfig()
        return SimulationConfig(
            config_id=str(data.get("config_id", defaults.config_id)),
            seed=int(world.get("weather_seed", defaults.seed)),
            grid_size=(int(grid[0]), int(grid[1])),
            agent_count=int(world.get("agent_count", defaults.agent_count)),
            ticks_per_day=int(world.get("ticks_per_day", defaults.ticks_per_day)),
            decay_rates={**defaults.decay_rates, **{k: float(v) for k, v in rates.items()}},
            need_threshold=float(behavior.get("hunger_threshold", defaults.need_threshold)),
            job_arrival_buffer=int(behavior.get("job_arrival_buffer", defaults.job_arrival_buffer)),
            jobs=jobs,
            daily_exit_cap=int(employment.get("daily_exit_cap", defaults.daily_exit_cap)),
            queue_limit=int(employment.get("queue_limit", defaults.queue_limit)),
            review_window=int(employment.get("review_window", defaults.review_window)),
            lateness_threshold=int(
                _section(data, "stability").get("lateness_threshold", defaults.lateness_threshold)
            ),
            cooldown_ticks=int(fairness.get("cooldown_ticks", defaults.cooldown_ticks)),
            ghost_step_after=int(fairness.get("ghost_step_after", defaults.ghost_step_after)),
            embedding_cooldown_ticks=int(
                embedding.get("cooldown_ticks", defaults.embedding_cooldown_ticks)
            ),
            embedding_max_slots=int(embedding.get("max_slots", defaults.embedding_max_slots)),
            reuse_warning_threshold=float(
                embedding.get("reuse_warning_threshold", defaults.reuse_warning_threshold)
            ),
            transport=TransportSettings(
                type=str(_section(data, "telemetry", "transport").get("type", "stdout")),
                max_batch_size=int(buffer.get("max_batch_size", 32)),
                max_buffer_bytes=_buffer_bytes(buffer.get("max_buffer_bytes", 256_000)),
                flush_interval_ticks=max(1, int(buffer.get("flush_interval_ticks", 1))),
            ),
        )
    except (TypeError, ValueError, IndexError, AttributeError) as err:
        raise ConfigError(f"invalid value in config `{source}`: {err}") from err
