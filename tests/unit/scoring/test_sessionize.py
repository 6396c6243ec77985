"""The VLE-minutes rule (SPEC "Measures"), local days, lateness and exact replays."""

from __future__ import annotations

import json
import random
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.measures import Activity, Kind
from scoring.sessionize import ActivityState, apply, prune, view
from scoring.timebase import MINUTE_MS, LocalCalendar
from tests.unit.scoring.helpers import (
    FAR_FUTURE_MS,
    LATENESS_MS,
    app,
    checkin,
    click,
    fold_in_batches,
    local_ms,
    minutes,
)

CAL = LocalCalendar("Europe/London")
DAY = date(2026, 10, 6)


def worked_example() -> list[Activity]:
    times = [(10, 0, 0, "A"), (10, 3, 0, "A"), (10, 4, 30, "B"), (10, 9, 30, "B"),
             (10, 12, 0, "A"), (10, 30, 0, "A")]
    return [click(f"e{i}", local_ms(2026, 10, 6, h, m, s), mod)
            for i, (h, m, s, mod) in enumerate(times)]


def test_spec_worked_example_gives_13_minutes() -> None:
    totals = fold_in_batches([worked_example()], CAL)[DAY]
    assert minutes(totals) == {"A": 8.5, "B": 4.5}
    assert totals.ele_minutes == 13.0


def test_spec_worked_example_through_the_lateness_bound_then_finalised() -> None:
    state = ActivityState()
    apply(state, worked_example(), lateness_ms=LATENESS_MS, calendar=CAL)
    later = click("next-day", local_ms(2026, 10, 7, 9, 0), "C")
    apply(state, [later], lateness_ms=LATENESS_MS, calendar=CAL)
    assert state.pending == [later]
    assert state.days[DAY].ele_minutes == 13.0


@pytest.mark.parametrize(
    ("gap_seconds", "expected_first"),
    [(0, 0.0), (60, 1.0), (299, 299 / 60), (300, 2.0), (301, 2.0), (3600, 2.0)],
)
def test_gap_rule_branches(gap_seconds: int, expected_first: float) -> None:
    start = local_ms(2026, 10, 6, 10)
    clicks = [click("a", start, "A"), click("b", start + gap_seconds * 1000, "B")]
    totals = fold_in_batches([clicks], CAL)[DAY]
    assert totals.module_ms.get("A", 0) / MINUTE_MS == pytest.approx(expected_first)
    assert minutes(totals)["B"] == 2.0


def test_short_gap_counts_for_the_earlier_module_when_the_module_changes() -> None:
    start = local_ms(2026, 10, 6, 10)
    totals = fold_in_batches([[click("a", start, "A"), click("b", start + 90_000, "B")]],
                             CAL)[DAY]
    assert minutes(totals) == {"A": 1.5, "B": 2.0}


def test_last_click_counts_only_after_five_quiet_minutes() -> None:
    start = local_ms(2026, 10, 6, 10)
    state = ActivityState()
    apply(state, [click("a", start)], lateness_ms=LATENESS_MS, calendar=CAL)
    almost = view(state, [DAY], clock_ms=start + 5 * MINUTE_MS - 1000, calendar=CAL)
    quiet = view(state, [DAY], clock_ms=start + 5 * MINUTE_MS, calendar=CAL)
    assert almost[DAY].ele_minutes == 0.0
    assert quiet[DAY].ele_minutes == 2.0


def test_clicks_at_the_same_instant_are_ordered_by_event_id() -> None:
    start = local_ms(2026, 10, 6, 10)
    totals = fold_in_batches([[click("b", start, "B"), click("a", start, "A")]], CAL)[DAY]
    assert minutes(totals) == {"A": 0.0, "B": 2.0}


def test_time_counts_on_the_local_day_of_the_earlier_click() -> None:
    late_evening = local_ms(2026, 10, 6, 23, 58)
    after_midnight = local_ms(2026, 10, 7, 0, 1)
    result = fold_in_batches([[click("a", late_evening), click("b", after_midnight)]], CAL)
    assert result[DAY].ele_minutes == 3.0
    assert result[date(2026, 10, 7)].ele_minutes == 2.0


@pytest.mark.parametrize(
    ("moment", "expected_day"),
    [
        (local_ms(2026, 3, 29, 0, 30), date(2026, 3, 29)),
        (local_ms(2026, 3, 29, 23, 30), date(2026, 3, 29)),
        (local_ms(2026, 3, 28, 23, 59), date(2026, 3, 28)),
        (local_ms(2026, 10, 25, 0, 30), date(2026, 10, 25)),
        (local_ms(2026, 10, 25, 1, 30, fold=0), date(2026, 10, 25)),
        (local_ms(2026, 10, 25, 1, 30, fold=1), date(2026, 10, 25)),
        (local_ms(2026, 10, 25, 23, 30), date(2026, 10, 25)),
        (local_ms(2026, 10, 26, 0, 0), date(2026, 10, 26)),
    ],
)
def test_days_are_local_days_on_both_daylight_saving_days(moment: int, expected_day: date
                                                          ) -> None:
    assert CAL.day_of(moment) == expected_day
    assert fold_in_batches([[click("a", moment)]], CAL)[expected_day].ele_minutes == 2.0


def test_daylight_saving_days_are_23_and_25_hours_long() -> None:
    spring = CAL.end_ms(date(2026, 3, 29)) - CAL.start_ms(date(2026, 3, 29))
    autumn = CAL.end_ms(date(2026, 10, 25)) - CAL.start_ms(date(2026, 10, 25))
    assert (spring, autumn) == (23 * 3_600_000, 25 * 3_600_000)


def test_gaps_are_real_elapsed_time_across_the_repeated_autumn_hour() -> None:
    first = local_ms(2026, 10, 25, 1, 58, fold=0)  # 01:58 BST
    second = local_ms(2026, 10, 25, 1, 1, fold=1)  # 01:01 GMT, three minutes later
    totals = fold_in_batches([[click("a", first), click("b", second)]], CAL)
    assert totals[date(2026, 10, 25)].ele_minutes == 3.0 + 2.0


def test_null_module_minutes_are_reported_apart_and_not_scored() -> None:
    start = local_ms(2026, 10, 6, 10)
    totals = fold_in_batches([[click("a", start, None), click("b", start + 60_000, "A")]],
                             CAL)[DAY]
    assert totals.no_module_minutes == 1.0
    assert totals.ele_minutes == 2.0


def test_app_choices_and_checkins_are_counted_per_local_day() -> None:
    start = local_ms(2026, 10, 6, 10)
    result = fold_in_batches([[app("a1", start), app("a2", start + 1), checkin("c1", start),
                               app("a3", local_ms(2026, 10, 7, 0, 5))]], CAL)
    assert (result[DAY].app_choices, result[DAY].event_checkins) == (2, 1)
    assert result[date(2026, 10, 7)].app_choices == 1


def test_only_clicks_app_choices_and_checkins_exist_as_scored_activity() -> None:
    assert {k.value for k in Kind} == {"click", "app", "checkin"}


@pytest.mark.parametrize("split", [False, True])
def test_a_duplicate_event_id_counts_once(split: bool) -> None:
    start = local_ms(2026, 10, 6, 10)
    first = [click("a", start), app("p", start + 1000)]
    again = [click("a", start), app("p", start + 1000)]
    batches = [first, again] if split else [first + again]
    totals = fold_in_batches(batches, CAL)[DAY]
    assert (totals.ele_minutes, totals.app_choices) == (2.0, 1)


def test_duplicates_within_the_lateness_bound_are_reported() -> None:
    start = local_ms(2026, 10, 6, 10)
    state = ActivityState()
    apply(state, [click("a", start)], lateness_ms=LATENESS_MS, calendar=CAL)
    outcome = apply(state, [click("a", start)], lateness_ms=LATENESS_MS, calendar=CAL)
    assert [a.event_id for a in outcome.duplicates] == ["a"]


def test_late_activity_is_reported_and_not_folded_twice() -> None:
    start = local_ms(2026, 10, 6, 10)
    state = ActivityState()
    apply(state, [click("a", start), click("b", start + 3_600_000)], lateness_ms=LATENESS_MS,
          calendar=CAL)
    outcome = apply(state, [click("c", start + 60_000)], lateness_ms=LATENESS_MS, calendar=CAL)
    assert [a.event_id for a in outcome.late] == ["c"]


def test_a_batch_that_finalises_an_old_day_and_a_new_one_still_shows_the_old_day() -> None:
    state = ActivityState()
    evening = local_ms(2026, 10, 5, 19, 46)
    apply(state, [click("a", evening)], lateness_ms=LATENESS_MS, calendar=CAL)
    week_later = local_ms(2026, 10, 13, 12, 25)
    outcome = apply(state, [app("p", week_later)], lateness_ms=LATENESS_MS, calendar=CAL)
    shown = view(state, outcome.touched_days, clock_ms=week_later, calendar=CAL)
    assert shown[date(2026, 10, 5)].ele_minutes == 2.0
    prune(state, CAL)
    assert date(2026, 10, 5) not in state.days


activity_kinds = st.sampled_from(["click", "click", "click", "app", "checkin"])
modules = st.sampled_from(["A", "B", "C", None])


@st.composite
def student_streams(draw: st.DrawFn) -> list[Activity]:
    """One student's activity: gaps from 0 s to 20 min, across local midnight."""
    at = local_ms(2026, 10, 6, 23, 0)
    activities = []
    for n in range(draw(st.integers(min_value=1, max_value=40))):
        at += draw(st.integers(min_value=0, max_value=20 * 60)) * 1000
        kind = draw(activity_kinds)
        activities.append(Activity(f"e{n:03d}", Kind(kind), at,
                                   draw(modules) if kind == "click" else None))
    return activities


def bounded_lateness_order(activities: list[Activity], rng: random.Random) -> list[Activity]:
    """An arrival order in which nothing arrives more than the lateness bound behind the
    newest activity already seen: never jump further ahead of the oldest one still due."""
    pending = sorted(activities, key=Activity.order_key)
    arrived: list[Activity] = []
    while pending:
        oldest = pending[0].at_ms
        allowed = [a for a in pending if a.at_ms <= oldest + LATENESS_MS]
        choice = rng.choice(allowed)
        pending.remove(choice)
        arrived.append(choice)
    return arrived


def batches_of(activities: list[Activity], rng: random.Random) -> list[list[Activity]]:
    batches, index = [], 0
    while index < len(activities):
        size = rng.randint(1, 5)
        batches.append(activities[index:index + size])
        index += size
    return batches


@settings(max_examples=150, deadline=None)
@given(student_streams(), st.integers(min_value=0, max_value=10_000))
def test_any_order_within_the_lateness_bound_gives_the_in_order_result(
    activities: list[Activity], seed: int
) -> None:
    rng = random.Random(seed)
    in_order = fold_in_batches([[a] for a in activities], CAL)
    shuffled = bounded_lateness_order(activities, rng)
    state = ActivityState()
    for batch in batches_of(shuffled, rng):
        assert not apply(state, batch, lateness_ms=LATENESS_MS, calendar=CAL).late
    days = set(in_order)
    assert view(state, days, clock_ms=FAR_FUTURE_MS, calendar=CAL) == in_order


@settings(max_examples=150, deadline=None)
@given(student_streams(), st.integers(min_value=0, max_value=10_000))
def test_any_order_at_all_with_late_refolds_gives_the_in_order_result(
    activities: list[Activity], seed: int
) -> None:
    rng = random.Random(seed)
    in_order = fold_in_batches([[a] for a in activities], CAL)
    shuffled = list(activities)
    rng.shuffle(shuffled)
    assert fold_in_batches(batches_of(shuffled, rng), CAL) == in_order


@settings(max_examples=100, deadline=None)
@given(student_streams(), st.integers(min_value=0, max_value=10_000))
def test_a_snapshot_restored_mid_stream_resumes_exactly(activities: list[Activity], seed: int
                                                        ) -> None:
    rng = random.Random(seed)
    batches = batches_of(activities, rng)
    cut = rng.randrange(len(batches) + 1)
    straight = ActivityState()
    restored = ActivityState()
    for index, batch in enumerate(batches):
        apply(straight, batch, lateness_ms=LATENESS_MS, calendar=CAL)
        apply(restored, batch, lateness_ms=LATENESS_MS, calendar=CAL)
        if index == cut:
            restored = ActivityState.from_dict(json.loads(json.dumps(restored.to_dict())))
    days = {CAL.day_of(a.at_ms) for a in activities}
    assert view(restored, days, clock_ms=FAR_FUTURE_MS, calendar=CAL) == \
        view(straight, days, clock_ms=FAR_FUTURE_MS, calendar=CAL)
