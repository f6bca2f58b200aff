"""Configuration loading and the tick loop."""
