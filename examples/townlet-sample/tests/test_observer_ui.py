"""The observer dashboard on a real pseudo-terminal: renders, advances, stops cleanly."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import sys
import time
from collections.abc import Callable

from conftest import HYBRID_CONFIG, ROOT

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def run_in_pty(
    until: Callable[[str], bool], env: dict[str, str], stop: int | None, seconds: float = 20.0
) -> tuple[str, int]:
    """Run the UI with `--ticks 0` in a pty until `until(text)` holds, the process exits, or
    `seconds` pass; then send `stop`. Returns the text (escape codes removed) and exit code."""
    argv = [
        sys.executable,
        str(ROOT / "scripts" / "observer_ui.py"),
        str(HYBRID_CONFIG),
        "--ticks",
        "0",
        "--refresh",
        "0.05",
    ]
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execve(argv[0], argv, {**os.environ, **env})
    output = b""
    deadline = time.monotonic() + seconds
    exited = None
    while time.monotonic() < deadline and exited is None:
        if until(ANSI.sub(b"", output).decode("utf-8", "replace")):
            break
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                output += os.read(fd, 65536)
            except OSError:
                break
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            exited = status
    if exited is None and stop is not None:
        os.kill(pid, stop)
    drain_deadline = time.monotonic() + 10.0
    while True:
        ready, _, _ = select.select([fd], [], [], max(0.0, drain_deadline - time.monotonic()))
        if not ready:  # the child ignored the signal: do not hang the suite
            os.kill(pid, signal.SIGKILL)
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    if exited is None:
        _, exited = os.waitpid(pid, 0)
    os.close(fd)
    return ANSI.sub(b"", output).decode("utf-8", "replace"), os.waitstatus_to_exitcode(exited)


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
