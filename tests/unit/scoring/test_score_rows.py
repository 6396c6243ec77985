"""Which score rows exist: every day up to the tenant's current day whose 7-day window holds a
score, each with the average of the scores as they finally are, however the days' scores and
the current day arrived (engine.score_rows, carry_due, carry_forward)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.config import TenantConfig
from scoring.days import ScoreRow, carry_due, carry_forward, score_rows
from scoring.scores import score_7d
from scoring.student import StudentState

CONFIG = TenantConfig.model_validate({})
FIRST = date(2026, 10, 5)


def student(college: str | None = "CLES") -> StudentState:
    return StudentState("uni", "s1", college=college)


@dataclass
class Table:
    """daily_scores as a ReplacingMergeTree shows it: the last row written per day."""
    rows: dict[date, ScoreRow] = field(default_factory=dict)

    def write(self, rows: list[ScoreRow]) -> None:
        self.rows.update((row.day, row) for row in rows)


def score(state: StudentState, day: date, value: float, today: date | None) -> list[ScoreRow]:
    state.daily_scores[day] = value
    return score_rows(state, [day], CONFIG, today=today)


def test_a_scored_day_writes_rows_only_up_to_the_current_day() -> None:
    state = student()
    rows = score(state, FIRST, 7.0, today=FIRST + timedelta(days=2))
    assert [r.day for r in rows] == [FIRST + timedelta(days=k) for k in range(3)]
    assert all(r.score_7d == 1.0 for r in rows)
    assert state.scored_through == FIRST + timedelta(days=2)


def test_the_current_day_moving_on_carries_the_average_until_the_window_passes() -> None:
    state = student()
    score(state, FIRST, 7.0, today=FIRST)
    later = FIRST + timedelta(days=10)
    assert carry_due(state, later)
    carried = carry_forward(state, CONFIG, later)
    assert [r.day for r in carried] == [FIRST + timedelta(days=k) for k in range(1, 7)]
    assert [r.daily_score for r in carried] == [0.0] * 6
    assert {r.score_7d for r in carried} == {1.0}
    assert not carry_due(state, later)
    assert carry_forward(state, CONFIG, later) == []


def test_a_late_score_rewrites_every_row_already_written_that_it_moves() -> None:
    state = student()
    score(state, FIRST, 7.0, today=FIRST + timedelta(days=3))
    rows = score(state, FIRST - timedelta(days=1), 14.0, today=FIRST + timedelta(days=3))
    assert [r.day for r in rows] == [FIRST + timedelta(days=k) for k in range(-1, 4)]
    assert rows[-1].score_7d == 3.0


def test_rows_already_written_past_a_lower_current_day_are_still_rewritten() -> None:
    """After a restart the current day is rebuilt from replayed events, and can be behind the
    day the student's rows had reached."""
    state = student()
    score(state, FIRST, 7.0, today=FIRST + timedelta(days=4))
    rows = score(state, FIRST, 14.0, today=FIRST + timedelta(days=1))
    assert rows[-1].day == FIRST + timedelta(days=4)
    assert state.scored_through == FIRST + timedelta(days=4)


def test_a_student_without_a_college_has_no_rows_and_nothing_carried() -> None:
    state = student(college=None)
    assert score(state, FIRST, 7.0, today=FIRST) == []
    assert not carry_due(state, FIRST + timedelta(days=3))


def test_a_student_with_no_recent_score_has_nothing_to_carry() -> None:
    state = student()
    score(state, FIRST, 7.0, today=FIRST + timedelta(days=8))
    assert not carry_due(state, FIRST + timedelta(days=20))


# Each step: a day's score (offset from FIRST, value) and how far the current day moves on.
steps = st.lists(
    st.tuples(st.integers(0, 20), st.floats(0, 50, allow_nan=False), st.integers(0, 3)),
    min_size=1, max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(steps=steps, start=st.integers(0, 20), sweeps=st.lists(st.booleans(), min_size=25,
                                                               max_size=25))
def test_rows_equal_the_final_scores_whatever_order_they_came_in(
        steps: list[tuple[int, float, int]], start: int, sweeps: list[bool]) -> None:
    """Scores arrive for any day up to the current day, late ones included; the current day
    only moves forward, and the day's first batch may or may not reach this student before
    its own event does. The rows written, last value per day, equal what the final scores
    give for every day up to the final current day that a score's window reaches."""
    state, table = student(), Table()
    today = FIRST + timedelta(days=start)
    for (offset, value, advance), sweep in zip(steps, sweeps, strict=False):
        today += timedelta(days=advance)
        if sweep and carry_due(state, today):
            table.write(carry_forward(state, CONFIG, today))
        day = min(FIRST + timedelta(days=offset), today)
        table.write(score(state, day, value, today))
    if carry_due(state, today):
        table.write(carry_forward(state, CONFIG, today))

    reached = {d + timedelta(days=k) for d in state.daily_scores for k in range(7)}
    expected = {d: score_7d(state.daily_scores, d) for d in reached if d <= today}
    assert {d: r.score_7d for d, r in table.rows.items()} == expected
    assert all(r.daily_score == state.daily_scores.get(d, 0.0) for d, r in table.rows.items())
