"""Copies of a student's state kept to roll a failed batch back."""

from __future__ import annotations

from datetime import UTC, date, datetime

from scoring.measures import DayTotals
from scoring.rules import AttendanceMark
from scoring.student import StudentState


def test_a_copy_sharing_activity_is_independent_in_everything_a_rollover_changes() -> None:
    state = StudentState("uni", "s1", college="CLES", daily_scores={date(2026, 11, 2): 1.0},
                         scored_through=date(2026, 11, 2))
    state.attendance["LEC-1"] = AttendanceMark("LEC-1", date(2026, 11, 2),
                                               datetime(2026, 11, 2, 9, tzinfo=UTC), "present")
    copy = state.clone_sharing_activity()
    # What carrying scores forward and judging days change on the live state...
    state.scored_through = date(2026, 11, 9)
    state.evaluated_through = date(2026, 11, 8)
    state.prune(date(2026, 12, 31))
    # ...leaves the copy as it was.
    assert copy.scored_through == date(2026, 11, 2)
    assert copy.evaluated_through is None
    assert copy.daily_scores == {date(2026, 11, 2): 1.0}
    assert list(copy.attendance) == ["LEC-1"]
    assert copy.activity is state.activity


def test_a_full_copy_is_independent_in_its_activity_too() -> None:
    state = StudentState("uni", "s1")
    state.activity.days[date(2026, 11, 2)] = DayTotals({"BIO1001": 60_000})
    copy = state.clone()
    state.activity.days[date(2026, 11, 2)].credit_minutes("BIO1001", 60_000)
    assert copy.activity.days[date(2026, 11, 2)].module_ms == {"BIO1001": 60_000}
