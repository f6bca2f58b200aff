"""Observation tensors: shapes, dtypes, channel contents, determinism."""

from __future__ import annotations

import numpy as np

from conftest import make_config
from townlet.observations import FEATURE_NAMES, MAP_CHANNELS, ObservationBuilder
from townlet.world.observation import VIEW_RADIUS, VIEW_SIZE, local_view, to_window
from townlet.world.state import WorldState


def run(world: WorldState, ticks: int) -> WorldState:
    for _ in range(ticks):
        world.step()
    return world


def test_shapes_and_dtypes(config):
    world = run(WorldState(config), 5)
    obs = ObservationBuilder().build(world, "agent_001")
    assert obs["map"].dtype == np.float32
    assert obs["map"].shape == (len(MAP_CHANNELS), 11, 11) == (4, VIEW_SIZE, VIEW_SIZE)
    assert obs["features"].dtype == np.float32
    assert obs["features"].shape == (len(FEATURE_NAMES),)
    assert np.isfinite(obs["features"]).all()


def test_self_channel_marks_only_the_centre(config):
    obs = ObservationBuilder().build(WorldState(config), "agent_002")
    expected = np.zeros((VIEW_SIZE, VIEW_SIZE), dtype=np.float32)
    expected[VIEW_RADIUS, VIEW_RADIUS] = 1.0
    np.testing.assert_array_equal(obs["map"][0], expected)


def test_blocked_channel_covers_cells_outside_the_grid(config):
    world = WorldState(config)
    world.agents["agent_001"].position = (0, 0)
    grid = ObservationBuilder().build(world, "agent_001")["map"]
    # From the corner only the 6 x 6 quadrant towards the grid is inside it.
    assert grid[3].sum() == VIEW_SIZE * VIEW_SIZE - 6 * 6
    assert grid[3, VIEW_RADIUS:, VIEW_RADIUS:].sum() == 0
    assert grid[3, :VIEW_RADIUS, :].all()


def test_objects_and_agents_appear_where_they_are(config):
    world = WorldState(config)
    fridge = world.objects["fridge"]
    me = world.agents["agent_001"]
    me.position = (fridge[0] + 2, fridge[1] - 1)
    other = world.agents["agent_002"]
    other.position = (me.position[0] - 3, me.position[1] + 1)
    for far in ("agent_003", "agent_004"):
        world.agents[far].position = (world.width - 1, 0)
    grid = ObservationBuilder().build(world, "agent_001")["map"]
    assert grid[2, VIEW_RADIUS + 1, VIEW_RADIUS - 2] == 1.0
    assert grid[1, VIEW_RADIUS + 1, VIEW_RADIUS - 3] == 1.0
    assert grid[1].sum() == 1.0


def test_to_window_bounds():
    assert to_window((5, 5), (5, 5)) == (VIEW_RADIUS, VIEW_RADIUS)
    assert to_window((5, 5), (0, 0)) == (0, 0)
    assert to_window((5, 5), (10, 10)) == (VIEW_SIZE - 1, VIEW_SIZE - 1)
    assert to_window((5, 5), (11, 5)) is None
    assert to_window((5, 5), (5, -1)) is None


def test_features_follow_needs_and_queue(config):
    world = WorldState(config)
    agent = world.agents["agent_001"]
    agent.needs = {"hunger": 0.25, "hygiene": 0.5, "energy": 0.75}
    world.queues.request("fridge", "agent_003", world.tick)
    world.queues.request("fridge", "agent_001", world.tick)
    agent.target = "fridge"
    features = ObservationBuilder().build(world, "agent_001")["features"]
    named = dict(zip(FEATURE_NAMES, features.tolist(), strict=True))
    assert named["need_hunger"] == 0.25
    assert named["need_hygiene"] == 0.5
    assert named["need_energy"] == 0.75
    assert named["queue_position"] == 2 / 4
    assert local_view(world, "agent_001").queue_position == 2


def test_context_features_report_the_exit_queue(config):
    world = WorldState(config)
    world.employment.enqueue("agent_003", 0)
    world.employment.enqueue("agent_004", 0)
    named = dict(
        zip(FEATURE_NAMES, ObservationBuilder().build(world, "agent_001")["features"], strict=True)
    )
    assert named["exit_queue_pending"] == 2.0
    assert named["exit_queue_pressure"] == np.float32(2 / 8)
    assert named["price_factor"] == 1.0


def test_same_seed_same_observations_other_seed_differs():
    def observe(seed: int) -> dict[str, dict[str, np.ndarray]]:
        world = run(WorldState(make_config(world={"weather_seed": seed, "agent_count": 4})), 50)
        return ObservationBuilder().build_all(world)

    first, second, other = observe(11), observe(11), observe(12)
    assert first.keys() == second.keys()
    for agent_id, obs in first.items():
        np.testing.assert_allclose(obs["map"], second[agent_id]["map"], rtol=1e-7, atol=0)
        np.testing.assert_allclose(obs["features"], second[agent_id]["features"], rtol=1e-7, atol=0)
    assert any(
        not np.array_equal(obs["features"], other[agent_id]["features"])
        for agent_id, obs in first.items()
        if agent_id in other
    )
