"""What one batch may change in the engine's memory, kept as it was before the batch.

A failed batch is rolled back, so retrying it record by record starts from where it started
instead of from half-applied state that would, say, count a day as judged while the alerts it
raised were discarded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from scoring.student import StudentState
from streams.engine.event_time import EventTimeProgress


class Undo:
    def __init__(self, progress: EventTimeProgress, swept_day: dict[str, date],
                 scores_through: dict[str, date]) -> None:
        self.progress = progress.copy()
        self.swept_day = dict(swept_day)
        self.scores_through = dict(scores_through)
        self.states: dict[str, StudentState | None] = {}

    def remember(self, key: str, state: StudentState | None, *, activity_kept: bool = False
                 ) -> None:
        """`activity_kept`: the batch leaves this student's activity state alone (it only
        carries scores forward and judges days), so the copy may share it. A day's rollover
        touches every student at once, and copying their activity was most of its memory."""
        if key in self.states:
            return
        if state is None:
            self.states[key] = None
        else:
            self.states[key] = state.clone_sharing_activity() if activity_kept else state.clone()

    def days_judged(self, swept_day: dict[str, date]) -> dict[str, date]:
        """Per tenant, the day the rules judged through in this batch (when it moved on)."""
        return {tenant: day for tenant, day in swept_day.items()
                if self.swept_day.get(tenant) != day}

    def put_back(self, restore: Callable[[str, StudentState | None], None]) -> None:
        for key, copy_before in self.states.items():
            restore(key, copy_before)
