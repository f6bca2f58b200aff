"""Build observation tensors for one agent.

`map` is float32 (4, 11, 11): channel 0 the agent itself (always the centre), 1 other agents,
2 shared objects, 3 cells outside the grid. `features` is float32 (len(FEATURE_NAMES),).

The context features are read from a loosely typed `dict[str, object]` (the telemetry-shaped
world context). That code predates the typed world API and is the module's known mypy debt.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from townlet.world.observation import VIEW_RADIUS, VIEW_SIZE, LocalView, local_view
from townlet.world.state import WorldState

MAP_CHANNELS = ("self", "agents", "objects", "blocked")

FEATURE_NAMES = (
    "need_hunger",
    "need_hygiene",
    "need_energy",
    "wallet",
    "lateness",
    "in_shift",
    "at_work",
    "queue_position",
    "day_sin",
    "day_cos",
    "agents_in_view",
    "objects_in_view",
    "exit_queue_pressure",
    "exit_queue_pending",
    "price_factor",
    "conflict_intensity",
)

FloatArray = npt.NDArray[np.float32]


def world_context(world: WorldState) -> dict[str, object]:
    """The world-wide context every agent's features include (telemetry-shaped)."""
    return {
        "employment": world.employment.snapshot(),
        "price_factor": world.price_factor(),
        "kpi": list(world.kpi_history["queue_conflict_intensity"]) or [0.0],
    }


class ObservationBuilder:
    """Turns a world into per-agent `map` and `features` arrays."""

    def __init__(self, lateness_threshold: int = 3) -> None:
        self.lateness_threshold = max(1, lateness_threshold)

    def build(self, world: WorldState, agent_id: str) -> dict[str, FloatArray]:
        view = local_view(world, agent_id)
        context = world_context(world)
        return {
            "map": self.build_map(view),
            "features": self.build_features(view, context),
        }

    def build_all(self, world: WorldState) -> dict[str, dict[str, FloatArray]]:
        return {agent_id: self.build(world, agent_id) for agent_id in sorted(world.agents)}

    def build_map(self, view: LocalView) -> FloatArray:
        grid = np.zeros((len(MAP_CHANNELS), VIEW_SIZE, VIEW_SIZE), dtype=np.float32)
        grid[0, VIEW_RADIUS, VIEW_RADIUS] = 1.0
        for channel, cells in ((1, view.others), (2, view.objects), (3, view.blocked)):
            for col, row in cells:
                grid[channel, row, col] += 1.0
        return grid

    def build_features(self, view: LocalView, context: dict[str, object]) -> FloatArray:
        angle = 2.0 * math.pi * view.day_fraction
        values = [
            *view.needs,
            view.wallet,
            min(view.lateness / self.lateness_threshold, 1.0),
            1.0 if view.in_shift else 0.0,
            1.0 if view.at_work else 0.0,
            view.queue_position / 4.0,
            math.sin(angle),
            math.cos(angle),
            float(len(view.others)),
            float(len(view.objects)),
            *self._context_features(context),
        ]
        return np.asarray(values, dtype=np.float32)

    def _context_features(self, context: dict[str, object]) -> list[float]:
        # Legacy: reads the untyped context as if it were typed (recorded mypy debt).
        employment = context.get("employment", {})
        pending = employment.get("pending_count", 0)
        limit = employment.get("queue_limit", 1)
        pressure = pending / max(limit, 1)
        price = float(context.get("price_factor", 1.0))
        intensity = context["kpi"][-1]
        return [float(pressure), float(pending), price, float(intensity)]
