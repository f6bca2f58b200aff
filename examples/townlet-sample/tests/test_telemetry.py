"""Telemetry payloads, the buffered worker, and the scripts' output formats."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys

import numpy as np
import yaml

from conftest import HYBRID_CONFIG, ROOT
from townlet.core.config import load_config
from townlet.telemetry import (
    SCHEMA_VERSION,
    TelemetryPublisher,
    TelemetryWorker,
    apply_payload,
    build_state,
    diff_payload,
    encode,
)
from townlet.world.state import WorldState

TICK_HEALTH = re.compile(
    r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} INFO townlet\.core\.sim_loop tick_health "
    r"tick=(\d+) duration_ms=[\d.]+ queue=\d+ dropped=(\d+) flush_ms=(None|[\d.]+) "
    r"payloads_total=\d+ bytes_total=\d+ perturbations_pending=\d+ perturbations_active=\d+ "
    r"exit_queue=\d+$"
)
DROP_WARNING = re.compile(
    r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} WARNING townlet\.telemetry\.worker "
    r"Telemetry buffer exceeded (\d+) bytes; dropped (\d+) payloads$"
)


def stream(config, ticks: int) -> tuple[list[dict], list[dict]]:
    """Payloads and the full states behind them for `ticks` ticks."""
    world = WorldState(config)
    publisher = TelemetryPublisher()
    payloads, states = [], []
    for _ in range(ticks):
        world.step()
        payloads.append(publisher.publish(world))
        states.append(build_state(world))
    return payloads, states


def test_snapshot_then_diffs(config):
    payloads, _ = stream(config, 5)
    first = payloads[0]
    assert first["payload_type"] == "snapshot"
    assert list(first)[:3] == ["schema_version", "tick", "runtime_variant"]
    assert list(first)[-1] == "payload_type"
    assert first["schema_version"] == SCHEMA_VERSION == "0.9.7"
    assert first["runtime_variant"] == "facade"
    assert set(first["queue_metrics"]) == {
        "cooldown_events",
        "ghost_step_events",
        "rotation_events",
    }
    assert set(first["conflict"]["queues"]) == set(first["queue_metrics"])
    assert {"pending_count", "exits_today", "daily_exit_cap", "queue_limit"} <= set(
        first["employment"]
    )
    assert set(first["embedding_metrics"]) == {
        "allocations_total",
        "forced_reuse_count",
        "forced_reuse_rate",
        "reuse_warning",
    }
    for tick, payload in enumerate(payloads[1:], start=2):
        assert list(payload)[:4] == ["schema_version", "tick", "payload_type", "changes"]
        assert payload["tick"] == tick
        assert "runtime_variant" not in payload["changes"], "unchanged keys are left out"


def test_diff_replaces_top_level_keys_and_lists_removed():
    previous = {"schema_version": "0.9.7", "tick": 1, "a": {"x": 1, "y": 2}, "b": 1, "gone": 0}
    state = {"schema_version": "0.9.7", "tick": 2, "a": {"x": 1, "y": 3}, "b": 1, "new": []}
    payload = diff_payload(previous, state)
    assert payload == {
        "schema_version": "0.9.7",
        "tick": 2,
        "payload_type": "diff",
        "changes": {"a": {"x": 1, "y": 3}, "new": []},
        "removed": ["gone"],
    }
    assert "removed" not in diff_payload(state, state)


def test_applying_the_stream_rebuilds_every_state():
    payloads, states = stream(load_config(HYBRID_CONFIG), 300)
    held = None
    removed_seen = 0
    for payload, state in zip(payloads, states, strict=True):
        held = apply_payload(held, payload)
        assert held == state
        removed_seen += "removed" in payload
    assert removed_seen >= 1, "a price spike ending must remove `price_spikes`"


def test_queue_metrics_move_and_match_conflict_queues():
    _, states = stream(load_config(HYBRID_CONFIG), 300)
    last = states[-1]
    assert last["queue_metrics"] == last["conflict"]["queues"]
    assert all(value > 0 for value in last["queue_metrics"].values())
    totals = [s["queue_metrics"]["rotation_events"] for s in states]
    assert totals == sorted(totals), "queue metrics are cumulative"


def test_encode_is_compact_and_one_line():
    line = encode({"schema_version": "0.9.7", "tick": 1, "note": "a\nb", "x": [1.5, None]})
    assert line == '{"schema_version":"0.9.7","tick":1,"note":"a\\nb","x":[1.5,null]}'


def test_worker_without_budget_keeps_everything(config):
    sink = io.StringIO()
    worker = TelemetryWorker(sink, flush_interval_ticks=4)
    for tick in range(1, 7):
        worker.submit({"tick": tick})
        worker.end_tick(tick)
    assert worker.queue_length == 2, "ticks 5 and 6 wait for the next flush"
    worker.close()
    assert [json.loads(line)["tick"] for line in sink.getvalue().splitlines()] == list(range(1, 7))
    assert worker.dropped_total == 0
    assert worker.payloads_total == 6
    assert worker.bytes_total == len(sink.getvalue().encode())


def test_worker_drops_oldest_payloads_over_budget(caplog):
    sink = io.StringIO()
    size = len(encode({"tick": 1, "pad": "x" * 10})) + 1
    worker = TelemetryWorker(sink, max_buffer_bytes=2 * size, flush_interval_ticks=4)
    with caplog.at_level(logging.WARNING, logger="townlet.telemetry.worker"):
        for tick in range(1, 5):
            worker.submit({"tick": tick, "pad": "x" * 10})
            worker.end_tick(tick)
    assert [json.loads(line)["tick"] for line in sink.getvalue().splitlines()] == [3, 4]
    assert worker.dropped_total == 2
    assert [r.getMessage() for r in caplog.records] == [
        f"Telemetry buffer exceeded {2 * size} bytes; dropped 1 payloads"
    ] * 2


# How a caller that wants Townlet's log runs the script: logging at INFO, then the script.
WITH_LOGGING = (
    "import logging, runpy, sys; "
    "logging.basicConfig(level=logging.INFO, "
    "format='%(asctime)s %(levelname)s %(name)s %(message)s'); "
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


def run_simulation(
    tmp_path, name: str, *extra: str, config=HYBRID_CONFIG, logging_on: bool = True
) -> subprocess.CompletedProcess[str]:
    launcher = [sys.executable, "-c", WITH_LOGGING] if logging_on else [sys.executable]
    return subprocess.run(
        [
            *launcher,
            str(ROOT / "scripts" / "run_simulation.py"),
            str(config),
            "--ticks",
            "120",
            "--telemetry-path",
            str(tmp_path / f"{name}.jsonl"),
            *extra,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


def test_run_simulation_is_deterministic_and_logs_tick_health(tmp_path):
    first = run_simulation(tmp_path, "a", "--observations-path", str(tmp_path / "a.npz"))
    run_simulation(tmp_path, "b", "--observations-path", str(tmp_path / "b.npz"))
    assert first.stdout == f"Telemetry stream written to {tmp_path / 'a.jsonl'}\n"
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    assert len(lines) == 120
    assert json.loads(lines[0])["payload_type"] == "snapshot"
    ticks = [int(m.group(1)) for m in map(TICK_HEALTH.match, first.stderr.splitlines()) if m]
    assert ticks == list(range(1, 121))
    with np.load(tmp_path / "a.npz", allow_pickle=False) as capture:
        assert capture["map"].dtype == np.float32 and capture["map"].shape[1:] == (4, 11, 11)
        steps = capture["map"].shape[0]
        assert 0 < steps <= 120
        assert capture["features"].dtype == np.float32 and capture["features"].shape[0] == steps
        assert capture["actions"].dtype == np.int64 and capture["actions"].shape == (steps,)
        assert capture["rewards"].dtype == np.float32 and capture["rewards"].shape == (steps,)
        assert capture["dones"].dtype == np.bool_ and capture["dones"][-1]


def test_run_simulation_configures_no_logging_like_townlet(tmp_path):
    result = run_simulation(tmp_path, "quiet", logging_on=False)
    assert "tick_health" not in result.stderr
    assert len((tmp_path / "quiet.jsonl").read_text().splitlines()) == 120


def test_run_simulation_budget_drops_and_warns(tmp_path):
    data = yaml.safe_load(HYBRID_CONFIG.read_text())
    data["telemetry"]["transport"]["buffer"]["max_buffer_bytes"] = 4000
    small = tmp_path / "small.yaml"
    small.write_text(yaml.safe_dump(data))
    result = run_simulation(tmp_path, "d", config=small)
    warnings = [m for m in map(DROP_WARNING.match, result.stderr.splitlines()) if m]
    assert warnings and all(m.group(1) == "4000" for m in warnings)
    dropped = sum(int(m.group(2)) for m in warnings)
    written = (tmp_path / "d.jsonl").read_text().splitlines()
    assert len(written) + dropped == 120
    last_health = [m for m in map(TICK_HEALTH.match, result.stderr.splitlines()) if m][-1]
    assert int(last_health.group(2)) == dropped, "tick_health reports cumulative drops"


def test_capture_rollout_writes_deterministic_replay_samples(tmp_path):
    def capture(out: str) -> None:
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "capture_rollout.py"),
                str(ROOT / "configs" / "scenarios" / "observation_baseline.yaml"),
                "--output",
                str(tmp_path / out),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )

    capture("a")
    capture("b")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == [
        "rollout_sample_agent_001_001.json",
        "rollout_sample_agent_001_001.npz",
        "rollout_sample_manifest.json",
        "rollout_sample_metrics.json",
    ]
    npz = "rollout_sample_agent_001_001.npz"
    assert (tmp_path / "a" / npz).read_bytes() == (tmp_path / "b" / npz).read_bytes()
    with np.load(tmp_path / "a" / npz, allow_pickle=False) as sample:
        assert sample["map"].shape == (20, 4, 11, 11)
        assert sample["value_preds"].shape == (21,)
    meta = json.loads((tmp_path / "a" / "rollout_sample_agent_001_001.json").read_text())
    assert meta["frame_count"] == 20
    assert meta["capture_metadata"]["config_path"].endswith("observation_baseline.yaml")


def test_observer_ui_without_terminal_writes_only_json(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "observer_ui.py"),
            str(HYBRID_CONFIG),
            "--ticks",
            "3",
            "--refresh",
            "0",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    payloads = [json.loads(line) for line in result.stdout.splitlines()]
    assert [p["tick"] for p in payloads] == [1, 2, 3]
    assert "Telemetry" not in result.stdout and "╭" not in result.stdout
