"""The employment exit queue: agents flagged for leaving their job wait for review.

An agent late for `lateness_threshold` shifts is queued (at most `queue_limit` pending).
Reviews approve exits in queue order, at most `daily_exit_cap` per review window; the
counter `exits_today` restarts every `review_window` ticks.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ExitRequest:
    agent_id: str
    queued_tick: int


@dataclass
class EmploymentExitQueue:
    daily_exit_cap: int
    queue_limit: int
    review_window: int
    pending: list[ExitRequest] = field(default_factory=list)
    exits_today: int = 0
    exits_total: int = 0
    rejected_full: int = 0
    window_start: int = 0

    def enqueue(self, agent_id: str, tick: int) -> bool:
        """Queue an exit review; false when already queued or the queue is full."""
        if any(request.agent_id == agent_id for request in self.pending):
            return False
        if len(self.pending) >= self.queue_limit:
            self.rejected_full += 1
            return False
        self.pending.append(ExitRequest(agent_id, tick))
        return True

    def review(self, tick: int) -> list[str]:
        """Approve as many exits as the cap allows at `tick`; return the agents that exit."""
        if self.review_window > 0 and tick - self.window_start >= self.review_window:
            self.window_start = tick - (tick - self.window_start) % self.review_window
            self.exits_today = 0
        approved: list[str] = []
        while self.pending and self.exits_today < self.daily_exit_cap:
            approved.append(self.pending.pop(0).agent_id)
            self.exits_today += 1
            self.exits_total += 1
        return approved

    @property
    def pending_count(self) -> int:
        return len(self.pending)

    def snapshot(self) -> dict[str, object]:
        return {
            "daily_exit_cap": self.daily_exit_cap,
            "exits_today": self.exits_today,
            "pending": [request.agent_id for request in self.pending],
            "pending_count": self.pending_count,
            "queue_limit": self.queue_limit,
            "review_window": self.review_window,
        }
