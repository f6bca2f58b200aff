"""The simulated world: agents with needs, a job queue, an employment exit queue."""

from townlet.world.state import Agent, WorldState

__all__ = ["Agent", "WorldState"]
