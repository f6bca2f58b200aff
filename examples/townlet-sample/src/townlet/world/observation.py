"""What one agent can see of the world: the raw material of observation tensors.

The world side of observations: plain Python data, no numpy. The observation builder in
`townlet.observations` turns a `LocalView` into tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

from townlet.world.state import NEEDS, Agent, WorldState

# A square window of (2 * VIEW_RADIUS + 1) cells centred on the agent: 11 x 11.
VIEW_RADIUS = 5
VIEW_SIZE = 2 * VIEW_RADIUS + 1


@dataclass(frozen=True)
class LocalView:
    """An agent's window on the grid plus its own scalar state."""

    agent_id: str
    tick: int
    # Window coordinates (column, row) with 0 <= value < VIEW_SIZE.
    others: tuple[tuple[int, int], ...]
    objects: tuple[tuple[int, int], ...]
    blocked: tuple[tuple[int, int], ...]
    needs: tuple[float, ...]
    wallet: float
    lateness: int
    in_shift: bool
    at_work: bool
    queue_position: int
    day_fraction: float


def to_window(center: tuple[int, int], cell: tuple[int, int]) -> tuple[int, int] | None:
    """Window coordinates of a grid `cell` seen from `center`, or None when out of view."""
    col = cell[0] - center[0] + VIEW_RADIUS
    row = cell[1] - center[1] + VIEW_RADIUS
    if 0 <= col < VIEW_SIZE and 0 <= row < VIEW_SIZE:
        return (col, row)
    return None


def queue_position(world: WorldState, agent: Agent) -> int:
    """1-based place of the agent in the queue of its target object, 0 when not queued."""
    if agent.target is None:
        return 0
    waiting = world.queues.queues[agent.target].waiting
    return waiting.index(agent.agent_id) + 1 if agent.agent_id in waiting else 0


def local_view(world: WorldState, agent_id: str) -> LocalView:
    """The view of `agent_id`; raises KeyError for an unknown agent."""
    agent = world.agents[agent_id]
    center = agent.position
    others = [
        to_window(center, other.position)
        for other_id, other in sorted(world.agents.items())
        if other_id != agent_id
    ]
    objects = [to_window(center, position) for _, position in sorted(world.objects.items())]
    blocked: list[tuple[int, int]] = []
    for row in range(VIEW_SIZE):
        for col in range(VIEW_SIZE):
            x = center[0] + col - VIEW_RADIUS
            y = center[1] + row - VIEW_RADIUS
            if not (0 <= x < world.width and 0 <= y < world.height):
                blocked.append((col, row))
    job = world.jobs[agent.job]
    return LocalView(
        agent_id=agent_id,
        tick=world.tick,
        others=tuple(cell for cell in others if cell is not None),
        objects=tuple(cell for cell in objects if cell is not None),
        blocked=tuple(blocked),
        needs=tuple(agent.needs[need] for need in NEEDS),
        wallet=agent.wallet,
        lateness=agent.lateness,
        in_shift=world.in_shift(agent),
        at_work=agent.position == job.location,
        queue_position=queue_position(world, agent),
        day_fraction=world.day_tick() / world.config.ticks_per_day,
    )
