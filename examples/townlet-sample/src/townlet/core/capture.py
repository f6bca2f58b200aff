"""Record one agent's trajectory as observation tensors (a rollout capture)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from townlet.observations.builder import ObservationBuilder
from townlet.world.state import WorldState


class RolloutCapture:
    """Collects `map`, `features`, `actions`, `rewards`, `dones` for one agent.

    The observation is taken before each tick, the action and reward from the tick itself.
    Recording stops when the agent leaves the world (its last step has `done` set), so a
    capture can hold fewer steps than ticks were run.
    """

    def __init__(self, builder: ObservationBuilder, agent_id: str) -> None:
        self.builder = builder
        self.agent_id = agent_id
        self.maps: list[npt.NDArray[np.float32]] = []
        self.features: list[npt.NDArray[np.float32]] = []
        self.actions: list[int] = []
        self.rewards: list[float] = []
        self.dones: list[bool] = []
        self._pending: dict[str, npt.NDArray[np.float32]] | None = None
        self.finished = False

    def before_tick(self, world: WorldState) -> None:
        if self.finished or self.agent_id not in world.agents:
            self._pending = None
            return
        self._pending = self.builder.build(world, self.agent_id)

    def after_tick(self, world: WorldState, last_tick: bool) -> None:
        if self._pending is None:
            return
        agent = world.agents.get(self.agent_id)
        self.maps.append(self._pending["map"])
        self.features.append(self._pending["features"])
        if agent is None:
            self.actions.append(0)
            self.rewards.append(0.0)
            self.dones.append(True)
            self.finished = True
        else:
            self.actions.append(agent.last_action)
            self.rewards.append(agent.last_reward)
            self.dones.append(last_tick)
        self._pending = None

    def arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        feature_count = len(self.features[0]) if self.features else 0
        return {
            "map": np.asarray(self.maps, dtype=np.float32).reshape(-1, 4, 11, 11),
            "features": np.asarray(self.features, dtype=np.float32).reshape(-1, feature_count),
            "actions": np.asarray(self.actions, dtype=np.int64),
            "rewards": np.asarray(self.rewards, dtype=np.float32),
            "dones": np.asarray(self.dones, dtype=np.bool_),
        }

    def save(self, path: Path) -> None:
        """Write the capture as an uncompressed `.npz` (plain arrays, no pickles)."""
        arrays = self.arrays()
        with path.open("wb") as handle:
            np.savez(
                handle,
                map=arrays["map"],
                features=arrays["features"],
                actions=arrays["actions"],
                rewards=arrays["rewards"],
                dones=arrays["dones"],
            )
