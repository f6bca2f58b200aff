"""Logging set-up shared by the scripts: Townlet's format, INFO, to stderr."""

from __future__ import annotations

import logging
import sys

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(level: int = logging.INFO) -> None:
    """Log `YYYY-MM-DD HH:MM:SS,mmm LEVEL logger message` lines to stderr."""
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr, force=True)
