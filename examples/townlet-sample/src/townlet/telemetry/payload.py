"""Telemetry payloads in Townlet's schema 0.9.7.

The first payload of a stream is `payload_type: "snapshot"` with the full state (key order as
Townlet writes it, `payload_type` last). Later payloads are `payload_type: "diff"` with
`changes` (the top-level keys whose value changed, each replaced wholesale) and `removed`
(top-level keys that disappeared; left out when empty). `schema_version` and `tick` are on
every payload and never part of `changes`.
"""

from __future__ import annotations

import json
from typing import Any

from townlet.world.state import WorldState

SCHEMA_VERSION = "0.9.7"
RUNTIME_VARIANT = "facade"
# Keys that head every payload and are not diffed.
HEADER_KEYS = ("schema_version", "tick")


def build_state(world: WorldState) -> dict[str, Any]:
    """The full telemetry state of `world` after its latest tick."""
    queue_totals = world.queues.snapshot()
    agents = {
        agent_id: {
            "job": agent.job,
            "activity": agent.activity,
            "position": list(agent.position),
            "needs": dict(agent.needs),
            "wallet": agent.wallet,
            "lateness": agent.lateness,
        }
        for agent_id, agent in sorted(world.agents.items())
    }
    state: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tick": world.tick,
        "runtime_variant": RUNTIME_VARIANT,
        "queue_metrics": dict(queue_totals),
        "embedding_metrics": world.embeddings.metrics(),
        "employment": world.employment.snapshot(),
        "conflict": {
            "queues": dict(queue_totals),
            "queue_history": [dict(entry) for entry in world.queue_history],
            "rivalry": {},
            "rivalry_events": [],
        },
        "events": list(world.events),
        "jobs": {
            "roster": {agent_id: agent.job for agent_id, agent in sorted(world.agents.items())},
            "queue": list(world.job_queue),
        },
        "agents": agents,
        "economy": {"price_factor": world.price_factor()},
        "perturbations": {
            "active": dict(world.perturbation_active),
            "pending": world.pending_perturbations(),
            "cooldowns": {"spec": {}, "agents": {}},
        },
        "kpi_history": {name: list(series) for name, series in world.kpi_history.items()},
    }
    if world.perturbation_active:
        # Present only while a price spike runs, so diffs exercise `removed`.
        state["price_spikes"] = {
            event_id: {"magnitude": spec["magnitude"], "ends_tick": spec["ends_tick"]}
            for event_id, spec in world.perturbation_active.items()
        }
    return state


def snapshot_payload(state: dict[str, Any]) -> dict[str, Any]:
    payload = dict(state)
    payload["payload_type"] = "snapshot"
    return payload


def diff_payload(previous: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """The diff that turns `previous` into `state`."""
    changes = {
        key: value
        for key, value in state.items()
        if key not in HEADER_KEYS and (key not in previous or previous[key] != value)
    }
    removed = [key for key in previous if key not in state and key not in HEADER_KEYS]
    payload: dict[str, Any] = {
        "schema_version": state["schema_version"],
        "tick": state["tick"],
        "payload_type": "diff",
        "changes": changes,
    }
    if removed:
        payload["removed"] = removed
    return payload


def apply_payload(state: dict[str, Any] | None, payload: dict[str, Any]) -> dict[str, Any]:
    """Rebuild the full state a consumer holds after receiving `payload`."""
    if payload.get("payload_type") == "snapshot" or state is None:
        base = {k: v for k, v in payload.items() if k not in ("payload_type", "changes", "removed")}
        if payload.get("payload_type") == "diff":
            base.update(payload.get("changes", {}))
        return base
    updated = dict(state)
    updated.update({k: payload[k] for k in HEADER_KEYS if k in payload})
    updated.update(payload.get("changes", {}))
    for key in payload.get("removed", []):
        updated.pop(key, None)
    return updated


def encode(payload: dict[str, Any]) -> str:
    """One compact JSON line, as Townlet writes it (no spaces, keys in insertion order)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class TelemetryPublisher:
    """Turns successive world states into a snapshot followed by diffs."""

    def __init__(self) -> None:
        self._previous: dict[str, Any] | None = None

    def publish(self, world: WorldState) -> dict[str, Any]:
        state = build_state(world)
        if self._previous is None:
            payload = snapshot_payload(state)
        else:
            payload = diff_payload(self._previous, state)
        self._previous = state
        return payload
