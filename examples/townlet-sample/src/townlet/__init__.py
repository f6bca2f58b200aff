"""Townlet sample target: a tiny, deterministic stand-in for the Townlet simulation.

It exists so that the rollout tooling (`cargo xtask gate` and friends) has a real Python
project to provision, test, lint, type-check, run and capture telemetry from.
"""

__version__ = "0.9.7"
