"""The employment exit queue and the job loop that feeds it."""

from __future__ import annotations

from conftest import make_config
from townlet.world.employment import EmploymentExitQueue
from townlet.world.state import WorldState


def test_enqueue_is_unique_and_bounded():
    queue = EmploymentExitQueue(daily_exit_cap=2, queue_limit=2, review_window=100)
    assert queue.enqueue("a", 1)
    assert not queue.enqueue("a", 2), "an agent is queued once"
    assert queue.enqueue("b", 3)
    assert not queue.enqueue("c", 4), "the queue is full at queue_limit"
    assert queue.pending_count == 2
    assert queue.rejected_full == 1


def test_review_respects_the_daily_cap_and_order():
    queue = EmploymentExitQueue(daily_exit_cap=2, queue_limit=8, review_window=100)
    for tick, agent in enumerate(["a", "b", "c"], start=1):
        queue.enqueue(agent, tick)
    assert queue.review(10) == ["a", "b"]
    assert queue.exits_today == 2
    assert queue.review(50) == [], "the cap holds for the rest of the window"
    assert queue.pending_count == 1


def test_cap_resets_every_review_window():
    queue = EmploymentExitQueue(daily_exit_cap=1, queue_limit=8, review_window=100)
    for agent in ["a", "b", "c"]:
        queue.enqueue(agent, 0)
    assert queue.review(1) == ["a"]
    assert queue.review(99) == []
    assert queue.review(100) == ["b"]
    assert queue.exits_today == 1
    assert queue.review(250) == ["c"]
    assert queue.window_start == 200
    assert queue.exits_total == 3


def test_snapshot_has_townlet_keys():
    queue = EmploymentExitQueue(daily_exit_cap=2, queue_limit=8, review_window=1440)
    queue.enqueue("agent_007", 3)
    assert queue.snapshot() == {
        "daily_exit_cap": 2,
        "exits_today": 0,
        "pending": ["agent_007"],
        "pending_count": 1,
        "queue_limit": 8,
        "review_window": 1440,
    }


def test_late_agents_are_queued_exit_and_are_replaced(config):
    world = WorldState(config)
    # Start every agent far from the grocer's location so each shift starts late.
    for agent in world.agents.values():
        agent.position = (world.width - 1, world.height - 1)
    exited: list[str] = []
    for _ in range(2 * config.ticks_per_day):
        world.step()
        exited += [e["agent_id"] for e in world.events if e["event"] == "employment.exit"]
    assert exited, "agents late lateness_threshold times must leave"
    assert len(world.agents) == config.agent_count, "every exit is replaced by a new hire"
    assert all(agent_id not in world.agents for agent_id in exited)
    assert world.embeddings.allocations_total == config.agent_count + len(exited)
    assert world.employment.exits_total == len(exited)
    assert world.employment.exits_today <= config.daily_exit_cap


def test_new_hires_wait_in_the_job_queue_until_their_shift():
    world = WorldState(make_config())
    agent = world._hire()
    assert agent.agent_id in world.job_queue
    assert not world.in_shift(agent)
    start = world.jobs[agent.job].start_tick
    while world.day_tick() != start:
        world.step()
    assert agent.agent_id not in world.job_queue


def test_exit_queue_never_exceeds_its_limit():
    world = WorldState(
        make_config(
            employment={"daily_exit_cap": 0, "queue_limit": 3, "review_window": 240},
            world={
                "grid_size": [16, 16],
                "weather_seed": 3,
                "agent_count": 6,
                "ticks_per_day": 120,
            },
        )
    )
    for _ in range(400):
        world.step()
        assert world.employment.pending_count <= 3
    assert world.employment.pending_count == 3
    assert world.employment.exits_total == 0
