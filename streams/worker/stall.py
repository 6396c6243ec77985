"""Notices a worker that holds partitions with messages waiting yet takes no batch.

Faust can, rarely, come out of a rebalance ready but never resume fetching; nothing is logged
and nothing is consumed. Such a worker cannot heal itself from inside, so it says so: `/healthz`
then fails, and the orchestrator's liveness probe restarts it, which resumes from the last
committed offsets and the changelog without losing or double-counting anything.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class StallWatch:
    after_seconds: float
    batches: int = 0
    _batches_at_last_check: int = 0
    _idle_since: float | None = None

    def batch_done(self) -> None:
        self.batches += 1

    def check(self, now: float, *, ready: bool, waiting: bool, in_batch: bool) -> bool:
        """True once the worker has been ready, idle and holding waiting messages, with no
        batch taken, for `after_seconds`. Call it periodically with a monotonic clock."""
        progressed = self.batches != self._batches_at_last_check
        self._batches_at_last_check = self.batches
        if progressed or not ready or not waiting or in_batch:
            self._idle_since = None
            return False
        if self._idle_since is None:
            self._idle_since = now
        return now - self._idle_since >= self.after_seconds
