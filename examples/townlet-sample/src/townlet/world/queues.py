"""Fair queues in front of shared objects (fridge, shower, bed).

Counts the three events Townlet's queue manager reports: `cooldown_events` (an agent left a
queue after using the object and may not rejoin for `cooldown_ticks`), `ghost_step_events`
(the head was blocked for `ghost_step_after` ticks and the next agent stepped past it) and
`rotation_events` (the head of a queue changed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

QUEUE_EVENT_KEYS = ("cooldown_events", "ghost_step_events", "rotation_events")


@dataclass
class ObjectQueue:
    object_id: str
    waiting: list[str] = field(default_factory=list)
    head_blocked_ticks: int = 0


@dataclass
class QueueManager:
    cooldown_ticks: int
    ghost_step_after: int
    queues: dict[str, ObjectQueue] = field(default_factory=dict)
    cooldowns: dict[tuple[str, str], int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(QUEUE_EVENT_KEYS, 0))

    def add_object(self, object_id: str) -> None:
        self.queues.setdefault(object_id, ObjectQueue(object_id))

    def on_cooldown(self, object_id: str, agent_id: str, tick: int) -> bool:
        return self.cooldowns.get((object_id, agent_id), -1) > tick

    def request(self, object_id: str, agent_id: str, tick: int) -> bool:
        """Join the queue of `object_id`; false when the agent is cooling down."""
        if self.on_cooldown(object_id, agent_id, tick):
            return False
        queue = self.queues[object_id]
        if agent_id not in queue.waiting:
            queue.waiting.append(agent_id)
        return True

    def head(self, object_id: str) -> str | None:
        waiting = self.queues[object_id].waiting
        return waiting[0] if waiting else None

    def release(self, object_id: str, agent_id: str, tick: int) -> None:
        """The agent finished using the object: leave the queue and start its cooldown."""
        queue = self.queues[object_id]
        if agent_id in queue.waiting:
            was_head = queue.waiting[0] == agent_id
            queue.waiting.remove(agent_id)
            self.cooldowns[(object_id, agent_id)] = tick + self.cooldown_ticks
            self.totals["cooldown_events"] += 1
            if was_head and queue.waiting:
                self.totals["rotation_events"] += 1
            queue.head_blocked_ticks = 0

    def leave(self, agent_id: str) -> None:
        """Drop the agent from every queue without a cooldown (it left the world)."""
        for queue in self.queues.values():
            if agent_id in queue.waiting:
                queue.waiting.remove(agent_id)

    def step(self, blocked: set[str]) -> None:
        """Advance one tick; `blocked` are agents at a queue head that could not act."""
        for queue in self.queues.values():
            if not queue.waiting:
                queue.head_blocked_ticks = 0
                continue
            if queue.waiting[0] in blocked:
                queue.head_blocked_ticks += 1
            else:
                queue.head_blocked_ticks = 0
            if queue.head_blocked_ticks >= self.ghost_step_after and len(queue.waiting) > 1:
                stalled = queue.waiting.pop(0)
                queue.waiting.insert(1, stalled)
                queue.head_blocked_ticks = 0
                self.totals["ghost_step_events"] += 1
                self.totals["rotation_events"] += 1

    def snapshot(self) -> dict[str, int]:
        return dict(self.totals)
