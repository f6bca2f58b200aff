"""Observation tensors: a local `map` (4, 11, 11) and a `features` vector per agent."""

from townlet.observations.builder import (
    FEATURE_NAMES,
    MAP_CHANNELS,
    ObservationBuilder,
    world_context,
)

__all__ = ["FEATURE_NAMES", "MAP_CHANNELS", "ObservationBuilder", "world_context"]
