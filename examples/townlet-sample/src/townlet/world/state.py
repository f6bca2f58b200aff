"""The world state and its deterministic tick.

Everything random comes from one `random.Random` seeded from the config, and agents act in
id order, so the same config and tick count always give the same world.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from townlet.core.config import JobSpec, SimulationConfig
from townlet.world.employment import EmploymentExitQueue
from townlet.world.queues import QueueManager

NEEDS = ("hunger", "hygiene", "energy")
# Which object restores which need.
NEED_OBJECTS = {"hunger": "fridge", "hygiene": "shower", "energy": "bed"}

ACTION_WAIT = 0
ACTION_NORTH = 1
ACTION_SOUTH = 2
ACTION_WEST = 3
ACTION_EAST = 4
ACTION_USE = 5
ACTION_WORK = 6
MOVES = {
    ACTION_NORTH: (0, -1),
    ACTION_SOUTH: (0, 1),
    ACTION_WEST: (-1, 0),
    ACTION_EAST: (1, 0),
}
WANDER_ACTIONS = (ACTION_WAIT, ACTION_NORTH, ACTION_SOUTH, ACTION_WEST, ACTION_EAST)

HISTORY_WINDOW = 5
RESTORE_PER_TICK = 0.12
MEAL_COST = 0.04
PERTURBATION_PERIOD = 150
PERTURBATION_FIRST = 100
PERTURBATION_DURATION = 25
PRICE_SPIKE_FACTOR = 2.5


@dataclass
class Agent:
    agent_id: str
    position: tuple[int, int]
    needs: dict[str, float]
    job: str
    wallet: float = 1.0
    lateness: int = 0
    late_flagged: bool = False
    activity: str = "idle"
    target: str | None = None
    embedding_slot: int = 0
    last_action: int = ACTION_WAIT
    last_reward: float = 0.0


@dataclass
class EmbeddingAllocator:
    """Hands out observation embedding slots; reusing a slot inside its cooldown is forced."""

    max_slots: int
    cooldown_ticks: int
    reuse_warning_threshold: float
    released: dict[int, int] = field(default_factory=dict)
    in_use: set[int] = field(default_factory=set)
    allocations_total: int = 0
    forced_reuse_count: int = 0

    def allocate(self, tick: int) -> int:
        self.allocations_total += 1
        for slot in range(self.max_slots):
            if slot in self.in_use:
                continue
            released = self.released.get(slot)
            if released is None or tick - released >= self.cooldown_ticks:
                self.in_use.add(slot)
                return slot
        free = [slot for slot in range(self.max_slots) if slot not in self.in_use]
        if not free:
            raise RuntimeError("embedding allocator exhausted: every slot is in use")
        slot = min(free, key=lambda s: (self.released.get(s, -1), s))
        self.in_use.add(slot)
        self.forced_reuse_count += 1
        return slot

    def release(self, slot: int, tick: int) -> None:
        self.in_use.discard(slot)
        self.released[slot] = tick

    def metrics(self) -> dict[str, float]:
        rate = self.forced_reuse_count / self.allocations_total if self.allocations_total else 0.0
        return {
            "allocations_total": float(self.allocations_total),
            "forced_reuse_count": float(self.forced_reuse_count),
            "forced_reuse_rate": round(rate, 6),
            "reuse_warning": 1.0 if rate > self.reuse_warning_threshold else 0.0,
        }


class WorldState:
    """A small town: agents, shared objects with fair queues, jobs, an exit queue."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.tick = 0
        self.width, self.height = config.grid_size
        self.objects: dict[str, tuple[int, int]] = {
            "fridge": (1, self.height - 2),
            "shower": (self.width - 2, self.height - 2),
            "bed": (self.width // 2, self.height // 2),
        }
        self.jobs: dict[str, JobSpec] = {job.name: job for job in config.jobs} or {
            "grocer": JobSpec("grocer", 30, 90, 0.02, (0, 0)),
        }
        self.queues = QueueManager(config.cooldown_ticks, config.ghost_step_after)
        for object_id in self.objects:
            self.queues.add_object(object_id)
        self.employment = EmploymentExitQueue(
            config.daily_exit_cap, config.queue_limit, config.review_window
        )
        self.embeddings = EmbeddingAllocator(
            config.embedding_max_slots,
            config.embedding_cooldown_ticks,
            config.reuse_warning_threshold,
        )
        self.agents: dict[str, Agent] = {}
        self.job_queue: list[str] = []
        self.hired = 0
        self.events: list[dict[str, object]] = []
        self.queue_history: list[dict[str, object]] = []
        self.kpi_history: dict[str, list[float]] = {
            "queue_conflict_intensity": [],
            "employment_lateness": [],
            "queue_rotation_events": [],
            "queue_ghost_step_events": [],
        }
        self.perturbation_active: dict[str, dict[str, object]] = {}
        for _ in range(config.agent_count):
            self._hire(onboard=False)

    # -- population -------------------------------------------------------------------------

    def _hire(self, onboard: bool = True) -> Agent:
        """Add an agent; new hires (`onboard`) wait in the job queue until their next shift."""
        self.hired += 1
        agent_id = f"agent_{self.hired:03d}"
        job_names = sorted(self.jobs)
        agent = Agent(
            agent_id=agent_id,
            position=(self.rng.randrange(self.width), self.rng.randrange(self.height)),
            needs={need: round(self.rng.uniform(0.5, 0.9), 4) for need in NEEDS},
            job=job_names[(self.hired - 1) % len(job_names)],
            embedding_slot=self.embeddings.allocate(self.tick),
        )
        self.agents[agent_id] = agent
        if onboard:
            self.job_queue.append(agent_id)
        return agent

    def _retire(self, agent_id: str) -> None:
        agent = self.agents.pop(agent_id)
        self.queues.leave(agent_id)
        self.embeddings.release(agent.embedding_slot, self.tick)
        if agent_id in self.job_queue:
            self.job_queue.remove(agent_id)
        self.events.append({"event": "employment.exit", "tick": self.tick, "agent_id": agent_id})

    # -- time -------------------------------------------------------------------------------

    def day_tick(self) -> int:
        return self.tick % self.config.ticks_per_day

    def in_shift(self, agent: Agent) -> bool:
        if agent.agent_id in self.job_queue:
            return False
        job = self.jobs[agent.job]
        return job.start_tick <= self.day_tick() < job.end_tick

    def price_factor(self) -> float:
        return PRICE_SPIKE_FACTOR if self.perturbation_active else 1.0

    def _update_perturbations(self) -> None:
        since = self.tick - PERTURBATION_FIRST
        self.perturbation_active = {}
        if since >= 0 and since % PERTURBATION_PERIOD < PERTURBATION_DURATION:
            start = self.tick - since % PERTURBATION_PERIOD
            self.perturbation_active[f"price_spike_{start}"] = {
                "kind": "price_spike",
                "started_tick": start,
                "ends_tick": start + PERTURBATION_DURATION,
                "magnitude": PRICE_SPIKE_FACTOR,
            }

    def pending_perturbations(self) -> list[dict[str, object]]:
        """Scheduled perturbations that start within the next `PERTURBATION_PERIOD` ticks."""
        since = self.tick - PERTURBATION_FIRST
        if since < 0:
            start = PERTURBATION_FIRST
        else:
            start = self.tick - since % PERTURBATION_PERIOD + PERTURBATION_PERIOD
        if self.perturbation_active or start - self.tick > PERTURBATION_PERIOD // 2:
            return []
        return [{"event_id": f"price_spike_{start}", "kind": "price_spike", "start_tick": start}]

    # -- the tick ---------------------------------------------------------------------------

    def step(self) -> None:
        """Advance the world by one tick."""
        self.tick += 1
        self.events = []
        self._update_perturbations()
        before = self.queues.snapshot()
        blocked: set[str] = set()
        late_now = 0
        for agent_id in sorted(self.agents):
            agent = self.agents[agent_id]
            self._decay(agent)
            if self._act(agent, blocked):
                late_now += 1
        self.queues.step(blocked)
        for agent_id in self.employment.review(self.tick):
            self._retire(agent_id)
            self._hire()
        self.job_queue = [
            agent_id
            for agent_id in self.job_queue
            if self.jobs[self.agents[agent_id].job].start_tick != self.day_tick()
        ]
        after = self.queues.snapshot()
        delta = {key: after[key] - before[key] for key in after}
        self.queue_history.append({"tick": self.tick, "delta": delta, "totals": after})
        del self.queue_history[:-HISTORY_WINDOW]
        waiting = sum(len(queue.waiting) for queue in self.queues.queues.values())
        self._kpi("queue_conflict_intensity", round(waiting / max(len(self.agents), 1), 4))
        self._kpi("employment_lateness", float(late_now))
        self._kpi("queue_rotation_events", float(delta["rotation_events"]))
        self._kpi("queue_ghost_step_events", float(delta["ghost_step_events"]))

    def _kpi(self, name: str, value: float) -> None:
        series = self.kpi_history[name]
        series.append(value)
        del series[:-HISTORY_WINDOW]

    def _decay(self, agent: Agent) -> None:
        for need in NEEDS:
            jitter = 1.0 + self.rng.random() * 0.5
            rate = self.config.decay_rates.get(need, 0.01) * jitter
            agent.needs[need] = round(max(0.0, agent.needs[need] - rate), 6)

    def _move_towards(self, agent: Agent, goal: tuple[int, int]) -> int:
        x, y = agent.position
        gx, gy = goal
        if (x, y) == goal:
            return ACTION_WAIT
        if abs(gx - x) >= abs(gy - y):
            action = ACTION_EAST if gx > x else ACTION_WEST
        else:
            action = ACTION_SOUTH if gy > y else ACTION_NORTH
        dx, dy = MOVES[action]
        agent.position = (x + dx, y + dy)
        return action

    def _act(self, agent: Agent, blocked: set[str]) -> bool:
        """Choose and apply the agent's action; return true when it is late for work."""
        reward = 0.002
        late = False
        job = self.jobs[agent.job]
        if self.in_shift(agent) and agent.activity != "using":
            if agent.target is not None:
                self.queues.leave(agent.agent_id)
                agent.target = None
            if agent.position == job.location:
                agent.activity = "working"
                agent.last_action = ACTION_WORK
                agent.wallet = round(agent.wallet + job.wage_rate, 6)
                reward += job.wage_rate
            else:
                agent.activity = "commuting"
                agent.last_action = self._move_towards(agent, job.location)
                if self.day_tick() - job.start_tick == self.config.job_arrival_buffer:
                    late = True
                    agent.lateness += 1
                    self.events.append(
                        {"event": "job.late", "tick": self.tick, "agent_id": agent.agent_id}
                    )
                    if agent.lateness >= self.config.lateness_threshold:
                        self.employment.enqueue(agent.agent_id, self.tick)
        elif agent.target is not None:
            agent.last_action = self._use_object(agent, blocked)
        else:
            lowest = min(NEEDS, key=lambda need: (agent.needs[need], need))
            object_id = NEED_OBJECTS[lowest]
            if agent.needs[lowest] < self.config.need_threshold and self.queues.request(
                object_id, agent.agent_id, self.tick
            ):
                agent.target = object_id
                agent.activity = "queued"
                agent.last_action = self._use_object(agent, blocked)
            else:
                agent.activity = "idle"
                agent.last_action = self._wander(agent)
        penalty = sum((1.0 - agent.needs[need]) ** 2 for need in NEEDS) * 0.01
        agent.last_reward = round(reward - penalty, 6)
        return late

    def _use_object(self, agent: Agent, blocked: set[str]) -> int:
        assert agent.target is not None
        object_id = agent.target
        location = self.objects[object_id]
        need = next(n for n, obj in NEED_OBJECTS.items() if obj == object_id)
        is_head = self.queues.head(object_id) == agent.agent_id
        if agent.position != location:
            if is_head:
                blocked.add(agent.agent_id)
            return self._move_towards(agent, location)
        if not is_head:
            agent.activity = "queued"
            return ACTION_WAIT
        agent.activity = "using"
        agent.needs[need] = round(min(1.0, agent.needs[need] + RESTORE_PER_TICK), 6)
        if need == "hunger":
            agent.wallet = round(agent.wallet - MEAL_COST * self.price_factor(), 6)
        if agent.needs[need] >= 0.95:
            self.queues.release(object_id, agent.agent_id, self.tick)
            agent.target = None
            agent.activity = "idle"
        return ACTION_USE

    def _wander(self, agent: Agent) -> int:
        action = self.rng.choice(WANDER_ACTIONS)
        if action in MOVES:
            dx, dy = MOVES[action]
            x, y = agent.position
            nx, ny = x + dx, y + dy
            if 0 <= nx < self.width and 0 <= ny < self.height:
                agent.position = (nx, ny)
            else:
                action = ACTION_WAIT
        return action
