"""The observer dashboard on a real pseudo-terminal: renders, advances, stops cleanly."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from conftest import HYBRID_CONFIG, ROOT

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def run_in_pty(
    until: Callable[[str], bool], env: dict[str, str], stop: int | None, seconds: float = 20.0
) -> tuple[str, int]:
    """Run the UI with `--ticks 0` in a pty until `until(text)` holds, the process exits, or
    `seconds` pass; then send `stop`. Returns the text (escape codes removed) and exit code.

    The test keeps its own copy of the terminal's child end open until the UI has exited, so
    reading never hits the end-of-terminal error while output is still buffered (some kernels
    drop that output), and drains what is left afterwards."""
    argv = [
        sys.executable,
        str(ROOT / "scripts" / "observer_ui.py"),
        str(HYBRID_CONFIG),
        "--ticks",
        "0",
        "--refresh",
        "0.05",
    ]
    master, slave = os.openpty()
    child = subprocess.Popen(
        argv,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, **env},
        start_new_session=True,
    )
    output = b""

    def read_for(seconds: float) -> bool:
        """Read what arrives within `seconds`; False when nothing did."""
        ready, _, _ = select.select([master], [], [], seconds)
        if not ready:
            return False
        nonlocal output
        output += os.read(master, 65536)
        return True

    def text() -> str:
        return ANSI.sub(b"", output).decode("utf-8", "replace")

    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and child.poll() is None and not until(text()):
            read_for(0.05)
        if child.poll() is None and stop is not None:
            child.send_signal(stop)
        # Keep reading while it stops: a UI blocked writing to a full terminal never sees
        # the signal's flag.
        stop_by = time.monotonic() + 10.0
        while child.poll() is None and time.monotonic() < stop_by:
            read_for(0.05)
        if child.poll() is None:  # it ignored the signal: do not hang the suite
            child.kill()
        code = child.wait()
        while read_for(0.2):
            pass
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(slave)
        os.close(master)
    return text(), code


def test_dashboard_advances_and_stops_on_sigint():
    text, code = run_in_pty(
        lambda t: len(set(re.findall(r"Tick: (\d+)", t))) >= 3, {}, signal.SIGINT
    )
    ticks = [int(t) for t in re.findall(r"Tick: (\d+)", text)]
    assert "Telemetry" in text and "Agents" in text
    assert len(ticks) >= 3 and ticks == sorted(ticks) and ticks[-1] > ticks[0]
    assert "Traceback" not in text
    assert code == 0


def test_dashboard_stops_on_sigterm():
    text, code = run_in_pty(lambda t: "Tick: 1" in t, {}, signal.SIGTERM)
    assert "Tick: 1" in text and "Traceback" not in text
    assert code == 0


def test_crash_switch_raises_after_first_frame():
    text, code = run_in_pty(lambda t: False, {"TOWNLET_SAMPLE_UI_CRASH": "1"}, None)
    assert "Tick: 1" in text and "Tick: 2" not in text
    assert "Traceback (most recent call last)" in text
    assert code == 1
