"""VLE minutes, app choices and check-ins per local day (SPEC "Measures"), through lateness,
late refolds, duplicates and snapshots."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.config import Measure
from scoring.measures import Activity, DayTotals, Kind
from scoring.sessionize import (
    DAYS_KEPT,
    SKEW_DAYS_KEPT,
    ActivityState,
    apply,
    last_click_ms,
    prune,
    rebuild_from,
    tail_is_open,
    view,
)
from scoring.timebase import MINUTE_MS, LocalCalendar
from tests.unit.scoring.helpers import (
    FAR_FUTURE_MS,
    LATENESS_MS,
    LONDON_NAME,
    SimulatedStream,
    app,
    checkin,
    click,
    expected_days,
    figures_of,
    in_batches,
    local_ms,
)

CAL = LocalCalendar(LONDON_NAME)
DAY = date(2026, 10, 6)
NEXT_DAY = date(2026, 10, 7)
TEN_AM = local_ms(2026, 10, 6, 10)
SECOND_MS = 1000


def measured(activities: Sequence[Activity], *, clock_ms: int = FAR_FUTURE_MS
             ) -> dict[date, DayTotals]:
    """The measures shown for activity delivered in one batch, in the given order."""
    stream = SimulatedStream(calendar=CAL)
    stream.deliver(activities)
    return stream.shown(clock_ms)


def worked_example() -> list[Activity]:
    times = [(10, 0, 0, "A"), (10, 3, 0, "A"), (10, 4, 30, "B"), (10, 9, 30, "B"),
             (10, 12, 0, "A"), (10, 30, 0, "A")]
    return [click(f"e{n}", local_ms(2026, 10, 6, h, m, s), module)
            for n, (h, m, s, module) in enumerate(times)]


# -- the worked example ---------------------------------------------------------------------

def test_spec_worked_example_gives_a_8_5_b_4_5_total_13() -> None:
    totals = measured(worked_example(), clock_ms=local_ms(2026, 10, 6, 12))[DAY]
    assert totals.minutes_by_module() == {"A": 8.5, "B": 4.5}
    assert totals.ele_minutes == 13.0
    assert totals.no_module_minutes == 0.0


def test_spec_worked_example_in_reverse_order_gives_the_same_minutes() -> None:
    totals = measured(worked_example()[::-1], clock_ms=local_ms(2026, 10, 6, 12))[DAY]
    assert totals.minutes_by_module() == {"A": 8.5, "B": 4.5}


def test_spec_worked_example_finalised_by_later_clicks() -> None:
    state = ActivityState()
    apply(state, worked_example(), lateness_ms=LATENESS_MS, calendar=CAL)
    # Clicks final up to 10:20: all but the 10:30 click are folded, the 10:12 click closed.
    assert state.days[DAY].minutes_by_module() == {"A": 6.5, "B": 4.5}
    assert [a.event_id for a in state.pending] == ["e5"]

    apply(state, [app("p1", local_ms(2026, 10, 6, 10, 41))], lateness_ms=LATENESS_MS,
          calendar=CAL)
    # An app choice says nothing about clicks: the 10:30 click waits; the clock shows it.
    assert state.days[DAY].minutes_by_module() == {"A": 6.5, "B": 4.5}
    assert last_click_ms(state) == local_ms(2026, 10, 6, 10, 30)
    shown = view(state, [DAY], clock_ms=local_ms(2026, 10, 6, 11), calendar=CAL)[DAY]
    assert shown.minutes_by_module() == {"A": 8.5, "B": 4.5}

    apply(state, [click("e6", local_ms(2026, 10, 6, 10, 50))], lateness_ms=LATENESS_MS,
          calendar=CAL)
    # Clicks final up to 10:40: five quiet minutes after 10:30 have passed.
    assert state.days[DAY].minutes_by_module() == {"A": 8.5, "B": 4.5}
    assert state.days[DAY].ele_minutes == 13.0
    assert last_click_ms(state) == local_ms(2026, 10, 6, 10, 50)
    shown = view(state, [DAY], clock_ms=local_ms(2026, 10, 6, 11), calendar=CAL)[DAY]
    assert (shown.ele_minutes, shown.app_choices) == (15.0, 1)


# -- the gap rule ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("gap_ms", "first_click_minutes"),
    [
        pytest.param(1, 1 / MINUTE_MS, id="1ms"),
        pytest.param(90 * SECOND_MS, 1.5, id="90s"),
        pytest.param(5 * MINUTE_MS - 1, (5 * MINUTE_MS - 1) / MINUTE_MS, id="5min-less-1ms"),
        pytest.param(5 * MINUTE_MS, 2.0, id="exactly-5min"),
        pytest.param(5 * MINUTE_MS + 1, 2.0, id="5min-and-1ms"),
        pytest.param(20 * MINUTE_MS, 2.0, id="20min"),
        pytest.param(26 * 60 * MINUTE_MS, 2.0, id="next-day"),
    ],
)
@pytest.mark.parametrize("next_module", ["A", "B"])
def test_gap_rule(gap_ms: int, first_click_minutes: float, next_module: str) -> None:
    activities = [click("a", TEN_AM, "A"), click("b", TEN_AM + gap_ms, next_module)]
    shown = measured(activities)
    credited: dict[str, float] = {}
    for totals in shown.values():
        for module, value in totals.minutes_by_module().items():
            credited[module] = credited.get(module, 0.0) + value
    # The later click is the last one: 2 minutes once five quiet minutes pass.
    expected = {"A": first_click_minutes}
    expected[next_module] = expected.get(next_module, 0.0) + 2.0
    assert credited == pytest.approx(expected)


def test_short_gap_counts_for_the_earlier_module_up_to_the_change() -> None:
    activities = [click("a", TEN_AM, "A"), click("b", TEN_AM + 90 * SECOND_MS, "B"),
                  click("c", TEN_AM + 150 * SECOND_MS, "A")]
    assert measured(activities)[DAY].minutes_by_module() == {"A": 1.5 + 2.0, "B": 1.0}


def test_a_long_gap_gives_two_minutes_whatever_the_next_module() -> None:
    activities = [click("a", TEN_AM, "A"), click("b", TEN_AM + 7 * MINUTE_MS, "B")]
    assert measured(activities)[DAY].minutes_by_module() == {"A": 2.0, "B": 2.0}


@pytest.mark.parametrize("lateness_ms", [0, LATENESS_MS], ids=["folded", "pending"])
def test_last_click_counts_only_after_five_quiet_minutes(lateness_ms: int) -> None:
    state = ActivityState()
    apply(state, [click("a", TEN_AM)], lateness_ms=lateness_ms, calendar=CAL)
    nearly = view(state, [DAY], clock_ms=TEN_AM + 4 * MINUTE_MS + 59 * SECOND_MS, calendar=CAL)
    quiet = view(state, [DAY], clock_ms=TEN_AM + 5 * MINUTE_MS, calendar=CAL)
    assert nearly[DAY].ele_minutes == 0.0
    assert quiet[DAY].ele_minutes == 2.0


def test_the_last_click_is_closed_for_good_once_finality_passes_five_quiet_minutes() -> None:
    state = ActivityState()
    apply(state, [click("a", TEN_AM)], lateness_ms=LATENESS_MS, calendar=CAL)
    apply(state, [click("b", TEN_AM + 15 * MINUTE_MS - 1)], lateness_ms=LATENESS_MS,
          calendar=CAL)
    assert state.days[DAY].ele_minutes == 0.0
    apply(state, [click("c", TEN_AM + 15 * MINUTE_MS)], lateness_ms=LATENESS_MS, calendar=CAL)
    assert state.days[DAY].ele_minutes == 2.0
    assert state.open_click is None


@pytest.mark.parametrize("arrival", [["a", "b"], ["b", "a"]])
def test_clicks_at_the_same_instant_are_ordered_by_event_id(arrival: list[str]) -> None:
    by_id = {"a": click("a", TEN_AM, "A"), "b": click("b", TEN_AM, "B")}
    shown = measured([by_id[i] for i in arrival])[DAY]
    # a then b: a gets the zero gap, b is the last click.
    assert shown.minutes_by_module() == {"A": 0.0, "B": 2.0}


def test_clicks_at_the_same_instant_in_separate_batches_are_ordered_by_event_id() -> None:
    stream = SimulatedStream(calendar=CAL)
    stream.deliver([click("b", TEN_AM, "B")])
    stream.deliver([click("a", TEN_AM, "A")])
    assert stream.shown()[DAY].minutes_by_module() == {"A": 0.0, "B": 2.0}


# -- local days -----------------------------------------------------------------------------

def test_time_counts_on_the_local_day_of_the_earlier_click() -> None:
    shown = measured([click("a", local_ms(2026, 10, 6, 23, 58)),
                      click("b", local_ms(2026, 10, 7, 0, 1))])
    assert shown[DAY].ele_minutes == 3.0
    assert shown[NEXT_DAY].ele_minutes == 2.0


@pytest.mark.parametrize(
    ("moment", "expected_day"),
    [
        pytest.param(local_ms(2026, 3, 29, 0, 30), date(2026, 3, 29), id="spring-00:30"),
        pytest.param(local_ms(2026, 3, 29, 23, 30), date(2026, 3, 29), id="spring-23:30"),
        pytest.param(local_ms(2026, 10, 25, 0, 30), date(2026, 10, 25), id="autumn-00:30"),
        pytest.param(local_ms(2026, 10, 25, 23, 30), date(2026, 10, 25), id="autumn-23:30"),
        pytest.param(local_ms(2026, 10, 25, 1, 30), date(2026, 10, 25), id="autumn-01:30-BST"),
        pytest.param(local_ms(2026, 10, 25, 1, 30, fold=1), date(2026, 10, 25),
                     id="autumn-01:30-GMT"),
    ],
)
def test_activity_on_daylight_saving_days_lands_on_its_local_day(moment: int,
                                                                 expected_day: date) -> None:
    shown = measured([click("c", moment), app("p", moment), checkin("k", moment)])
    assert {d for d, t in shown.items() if not t.is_empty()} == {expected_day}
    totals = shown[expected_day]
    assert (totals.ele_minutes, totals.app_choices, totals.event_checkins) == (2.0, 1, 1)


def test_the_repeated_autumn_hour_gives_two_clicks_on_25_october() -> None:
    shown = measured([click("bst", local_ms(2026, 10, 25, 1, 30)),
                      click("gmt", local_ms(2026, 10, 25, 1, 30, fold=1))])
    # An hour apart in real time: two separate visits.
    assert set(shown) == {date(2026, 10, 25)}
    assert shown[date(2026, 10, 25)].ele_minutes == 4.0


@pytest.mark.parametrize(
    ("earlier", "later", "day"),
    [
        pytest.param(local_ms(2026, 3, 29, 0, 58), local_ms(2026, 3, 29, 2, 1),
                     date(2026, 3, 29), id="spring-gap"),
        pytest.param(local_ms(2026, 10, 25, 1, 58), local_ms(2026, 10, 25, 1, 1, fold=1),
                     date(2026, 10, 25), id="autumn-gap"),
        pytest.param(local_ms(2026, 3, 28, 23, 58), local_ms(2026, 3, 29, 0, 1),
                     date(2026, 3, 28), id="midnight-before-spring"),
        pytest.param(local_ms(2026, 10, 25, 23, 58), local_ms(2026, 10, 26, 0, 1),
                     date(2026, 10, 25), id="midnight-after-autumn"),
    ],
)
def test_gaps_are_elapsed_time_across_clock_changes(earlier: int, later: int, day: date
                                                    ) -> None:
    assert later - earlier == 3 * MINUTE_MS
    shown = measured([click("a", earlier, "A"), click("b", later, "B")])
    assert shown[day].minutes_by_module()["A"] == 3.0


# -- null modules, app choices, check-ins, registrations ------------------------------------

def test_null_module_time_is_reported_apart_and_not_in_vle_minutes() -> None:
    activities = [click("a", TEN_AM, None), click("b", TEN_AM + MINUTE_MS, "A"),
                  click("c", TEN_AM + 2 * MINUTE_MS, None)]
    totals = measured(activities)[DAY]
    assert totals.no_module_minutes == 1.0 + 2.0
    assert totals.ele_minutes == 1.0
    assert totals.minutes_by_module() == {"A": 1.0}


def test_a_day_of_only_null_module_clicks_has_no_vle_minutes() -> None:
    totals = measured([click("a", TEN_AM, None), click("b", TEN_AM + MINUTE_MS, None)])[DAY]
    assert (totals.ele_minutes, totals.no_module_minutes) == (0.0, 3.0)
    assert totals.minutes_by_module() == {}


def test_app_choices_and_checkins_are_counted_per_local_day_and_add_no_minutes() -> None:
    activities = [app("a1", TEN_AM), app("a2", TEN_AM + 1), checkin("c1", TEN_AM),
                  app("a3", local_ms(2026, 10, 7, 0, 5)),
                  checkin("c2", local_ms(2026, 10, 6, 23, 59))]
    shown = measured(activities)
    assert (shown[DAY].app_choices, shown[DAY].event_checkins) == (2, 2)
    assert (shown[NEXT_DAY].app_choices, shown[NEXT_DAY].event_checkins) == (1, 0)
    assert shown[DAY].ele_minutes == shown[NEXT_DAY].ele_minutes == 0.0


def test_app_choices_and_checkins_between_clicks_do_not_break_a_visit() -> None:
    activities = [click("a", TEN_AM), app("p", TEN_AM + MINUTE_MS),
                  checkin("k", TEN_AM + 2 * MINUTE_MS), click("b", TEN_AM + 3 * MINUTE_MS)]
    assert measured(activities)[DAY].ele_minutes == 3.0 + 2.0


def test_only_clicks_app_choices_and_checkins_are_engagement_activity() -> None:
    """`event.registered` has no kind, so a caller cannot count it: registrations never
    count (SPEC "Measures")."""
    assert {kind.value for kind in Kind} == {"click", "app", "checkin"}
    with pytest.raises(ValueError, match="registered"):
        Kind("registered")
    assert {f.name for f in fields(DayTotals)} == {
        "module_ms", "no_module_ms", "app_choices", "event_checkins"}
    assert {m.value for m in Measure} == {"ele_minutes", "app_choices", "event_checkins"}


# -- duplicates and late activity -----------------------------------------------------------

def test_a_duplicate_in_the_same_batch_counts_once() -> None:
    state = ActivityState()
    outcome = apply(state, [click("a", TEN_AM), app("p", TEN_AM), click("a", TEN_AM),
                            app("p", TEN_AM)], lateness_ms=LATENESS_MS, calendar=CAL)
    assert [a.event_id for a in outcome.accepted] == ["a", "p"]
    assert [a.event_id for a in outcome.duplicates] == ["a", "p"]
    shown = view(state, [DAY], clock_ms=FAR_FUTURE_MS, calendar=CAL)[DAY]
    assert (shown.ele_minutes, shown.app_choices) == (2.0, 1)


def test_a_duplicate_in_a_later_batch_within_the_lateness_bound_counts_once() -> None:
    state = ActivityState()
    apply(state, [click("a", TEN_AM), checkin("k", TEN_AM)], lateness_ms=LATENESS_MS,
          calendar=CAL)
    apply(state, [click("b", TEN_AM + 9 * MINUTE_MS)], lateness_ms=LATENESS_MS, calendar=CAL)
    outcome = apply(state, [click("a", TEN_AM), checkin("k", TEN_AM)], lateness_ms=LATENESS_MS,
                    calendar=CAL)
    assert [a.event_id for a in outcome.duplicates] == ["a", "k"]
    assert (outcome.accepted, outcome.late) == ([], [])
    shown = view(state, [DAY], clock_ms=FAR_FUTURE_MS, calendar=CAL)[DAY]
    assert (shown.ele_minutes, shown.event_checkins) == (2.0 + 2.0, 1)


def test_a_duplicate_is_recognised_after_a_snapshot_restore() -> None:
    state = ActivityState()
    apply(state, [click("a", TEN_AM)], lateness_ms=LATENESS_MS, calendar=CAL)
    restored = ActivityState.from_dict(json.loads(json.dumps(state.to_dict())))
    outcome = apply(restored, [click("a", TEN_AM)], lateness_ms=LATENESS_MS, calendar=CAL)
    assert [a.event_id for a in outcome.duplicates] == ["a"]


@given(st.lists(st.integers(0, 3 * 60), min_size=2, max_size=30), st.integers(1, 29))
def test_a_copy_keeps_what_the_state_held_whatever_comes_after(minutes: list[int], cut: int
                                                                 ) -> None:
    """The copy a failed batch is rolled back to: later activity changes only the original."""
    state = ActivityState()
    clicks = [click(f"c{n}", TEN_AM + m * MINUTE_MS) for n, m in enumerate(minutes)]
    apply(state, clicks[:cut], lateness_ms=LATENESS_MS, calendar=CAL)
    before = state.to_dict()
    copied = state.clone()
    apply(state, clicks[cut:], lateness_ms=LATENESS_MS, calendar=CAL)
    view(state, [DAY], clock_ms=FAR_FUTURE_MS, calendar=CAL)
    prune(state, CAL)
    assert copied.to_dict() == before


def test_a_duplicate_of_final_activity_is_late_and_the_refold_counts_it_once() -> None:
    stream = SimulatedStream(calendar=CAL)
    stream.deliver([click("a", TEN_AM), app("p", TEN_AM)])
    stream.deliver([click("b", TEN_AM + 30 * MINUTE_MS), app("q", TEN_AM + 30 * MINUTE_MS)])
    outcome = stream.deliver([click("a", TEN_AM), app("p", TEN_AM)])
    assert [a.event_id for a in outcome.late] == ["a", "p"]
    shown = stream.shown()[DAY]
    assert (shown.ele_minutes, shown.app_choices) == (4.0, 2)


def test_activity_exactly_at_the_lateness_bound_is_accepted_and_older_is_late() -> None:
    state = ActivityState()
    newest = TEN_AM + 30 * MINUTE_MS
    apply(state, [click("new", newest)], lateness_ms=LATENESS_MS, calendar=CAL)
    at_bound = apply(state, [click("edge", newest - LATENESS_MS)], lateness_ms=LATENESS_MS,
                     calendar=CAL)
    beyond = apply(state, [click("old", newest - LATENESS_MS - 1)], lateness_ms=LATENESS_MS,
                   calendar=CAL)
    assert [a.event_id for a in at_bound.accepted] == ["edge"]
    assert at_bound.late == []
    assert [a.event_id for a in beyond.late] == ["old"]
    assert beyond.accepted == []


def test_late_activity_is_not_folded_until_the_refold() -> None:
    state = ActivityState()
    apply(state, [click("a", TEN_AM), click("b", TEN_AM + 60 * MINUTE_MS)],
          lateness_ms=LATENESS_MS, calendar=CAL)
    before = state.to_dict()
    late = click("c", TEN_AM + MINUTE_MS, "B")
    outcome = apply(state, [late], lateness_ms=LATENESS_MS, calendar=CAL)
    assert outcome.late == [late]
    assert state.to_dict() == before

    stored = [click("a", TEN_AM), click("b", TEN_AM + 60 * MINUTE_MS), late]
    refolded = rebuild_from(state, DAY - timedelta(days=1), stored, calendar=CAL)
    assert refolded == {DAY}
    shown = view(state, [DAY], clock_ms=FAR_FUTURE_MS, calendar=CAL)[DAY]
    assert shown.minutes_by_module() == {"A": 1.0 + 2.0, "B": 2.0}


def test_a_late_click_on_the_next_day_reaches_back_to_the_earlier_click() -> None:
    stream = SimulatedStream(calendar=CAL)
    stream.deliver([click("a", local_ms(2026, 10, 6, 23, 58))])
    stream.deliver([click("later", local_ms(2026, 10, 7, 9))])
    outcome = stream.deliver([click("b", local_ms(2026, 10, 7, 0, 1))])
    assert outcome.late != []
    shown = stream.shown()
    # a→b: 3 minutes on a's day; b and "later" are each a visit of their own next morning.
    assert (shown[DAY].ele_minutes, shown[NEXT_DAY].ele_minutes) == (3.0, 4.0)


def test_app_choices_days_ahead_of_the_clicks_make_no_click_late() -> None:
    """A consumer catching up reads a student's small app topic far ahead of their clicks."""
    in_order = SimulatedStream(calendar=CAL)
    ahead = SimulatedStream(calendar=CAL)
    clicks = [click(f"c{k}", TEN_AM + k * 2 * MINUTE_MS) for k in range(10)]
    apps = [app(f"p{k}", TEN_AM + k * 24 * 60 * MINUTE_MS) for k in range(4)]
    in_order.deliver(sorted([*clicks, *apps], key=lambda a: a.at_ms))
    ahead.deliver(apps)
    outcomes = [ahead.deliver([c]) for c in clicks]
    assert [a for o in outcomes for a in o.late] == []
    assert ahead.shown() == in_order.shown()


def test_rebuild_keeps_days_before_the_first_refolded_day() -> None:
    state = ActivityState()
    first = [click("a", TEN_AM), click("b", local_ms(2026, 10, 8, 10))]
    apply(state, first, lateness_ms=0, calendar=CAL)
    # The store has lost day one (for example it was already pruned): day one must survive.
    refolded = rebuild_from(state, NEXT_DAY, first[1:], calendar=CAL)
    assert refolded == {date(2026, 10, 8)}
    shown = view(state, [DAY, date(2026, 10, 8)], clock_ms=FAR_FUTURE_MS, calendar=CAL)
    assert shown[DAY].ele_minutes == 2.0
    assert shown[date(2026, 10, 8)].ele_minutes == 2.0


# -- touched days, view, pruning, small accessors -------------------------------------------

def test_touched_days_include_the_earlier_day_a_new_click_credits() -> None:
    state = ActivityState()
    apply(state, [click("a", local_ms(2026, 10, 6, 23, 58))], lateness_ms=0, calendar=CAL)
    outcome = apply(state, [click("b", local_ms(2026, 10, 7, 0, 1))], lateness_ms=0,
                    calendar=CAL)
    assert outcome.touched_days == {DAY, NEXT_DAY}


def test_clicks_do_not_touch_the_day_of_an_app_choice_still_waiting_for_its_kind() -> None:
    """An app choice stays pending until a later app choice passes the lateness bound; the
    clicks after it must not rewrite its day (and the six rows after it) every time."""
    state = ActivityState()
    apply(state, [app("menu", TEN_AM), checkin("talk", TEN_AM)], lateness_ms=LATENESS_MS,
          calendar=CAL)
    week_later = TEN_AM + 7 * 24 * 60 * MINUTE_MS
    outcomes = [apply(state, [click(f"c{n}", week_later + n * MINUTE_MS)],
                      lateness_ms=LATENESS_MS, calendar=CAL) for n in range(3)]
    assert [o.touched_days for o in outcomes] == [{DAY + timedelta(days=7)}] * 3
    shown = view(state, [DAY], clock_ms=FAR_FUTURE_MS, calendar=CAL)
    assert (shown[DAY].app_choices, shown[DAY].event_checkins) == (1, 1)


def test_view_does_not_change_the_state() -> None:
    state = ActivityState()
    apply(state, worked_example(), lateness_ms=LATENESS_MS, calendar=CAL)
    before = state.to_dict()
    view(state, [DAY, NEXT_DAY], clock_ms=FAR_FUTURE_MS, calendar=CAL)
    assert state.to_dict() == before


def test_view_gives_empty_totals_for_days_without_activity() -> None:
    state = ActivityState()
    apply(state, [click("a", TEN_AM)], lateness_ms=0, calendar=CAL)
    shown = view(state, [DAY, NEXT_DAY], clock_ms=FAR_FUTURE_MS, calendar=CAL)
    assert set(shown) == {DAY, NEXT_DAY}
    assert shown[NEXT_DAY] == DayTotals()
    assert shown[NEXT_DAY].is_empty()


def test_prune_forgets_days_more_than_a_week_before_the_newest_activity() -> None:
    state = ActivityState()
    days = [DAY + timedelta(days=n) for n in range(10)]
    for n, day in enumerate(days):
        apply(state, [app(f"p{n}", local_ms(day.year, day.month, day.day, 12))], lateness_ms=0,
              calendar=CAL)
    prune(state, CAL)
    # The newest day is still pending (nothing newer has made it final).
    assert sorted(state.days) == days[-DAYS_KEPT:-1]
    shown = view(state, days[-DAYS_KEPT:], clock_ms=FAR_FUTURE_MS, calendar=CAL)
    assert all(totals.app_choices == 1 for totals in shown.values())


def test_tail_and_last_click_follow_the_open_visit() -> None:
    state = ActivityState()
    assert not tail_is_open(state)
    assert last_click_ms(state) is None
    apply(state, [click("a", TEN_AM), app("p", TEN_AM + MINUTE_MS)], lateness_ms=LATENESS_MS,
          calendar=CAL)
    assert tail_is_open(state)
    assert last_click_ms(state) == TEN_AM
    apply(state, [app("q", TEN_AM + 30 * MINUTE_MS)], lateness_ms=0, calendar=CAL)
    assert last_click_ms(state) == TEN_AM, "app choices do not close a visit"
    apply(state, [click("b", TEN_AM + 30 * MINUTE_MS)], lateness_ms=0, calendar=CAL)
    assert last_click_ms(state) == TEN_AM + 30 * MINUTE_MS
    assert state.open_click is None


def test_a_snapshot_keeps_pending_activity_the_open_click_and_null_modules() -> None:
    state = ActivityState()
    apply(state, [click("a", TEN_AM, None), click("b", TEN_AM + MINUTE_MS, "A"),
                  click("c", TEN_AM + 12 * MINUTE_MS), app("p", TEN_AM + 12 * MINUTE_MS)],
          lateness_ms=LATENESS_MS, calendar=CAL)
    assert state.open_click is not None
    assert state.pending
    restored = ActivityState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored == state


def test_a_snapshot_from_before_per_kind_bounds_restores_one_bound_for_every_kind() -> None:
    old: dict[str, Any] = {"max_seen": TEN_AM, "final_upto": TEN_AM - LATENESS_MS, "open": None,
           "pending": [], "days": {}}
    restored = ActivityState.from_dict(old)
    assert set(restored.final_upto.values()) == {TEN_AM - LATENESS_MS}
    assert set(restored.final_upto) == set(Kind)
    outcome = apply(restored, [app("p", TEN_AM - LATENESS_MS - 1)], lateness_ms=LATENESS_MS,
                    calendar=CAL)
    assert [a.event_id for a in outcome.late] == ["p"]


# -- properties -----------------------------------------------------------------------------

STARTS = [local_ms(2026, 10, 6, 23, 0), local_ms(2026, 3, 28, 23, 30),
          local_ms(2026, 10, 24, 23, 30), local_ms(2026, 10, 25, 0, 50)]
GAPS_MS = st.one_of(
    st.sampled_from([0, 1, 5 * MINUTE_MS - 1, 5 * MINUTE_MS, 5 * MINUTE_MS + 1]),
    st.integers(min_value=0, max_value=20 * 60).map(lambda s: s * SECOND_MS),
)
LATENESS_CHOICES = st.sampled_from([0, MINUTE_MS, LATENESS_MS])


@st.composite
def student_activity(draw: st.DrawFn) -> list[Activity]:
    """One student's clicks (modules A, B or none), app choices and check-ins, 0 s to 20 min
    apart, starting late in the evening so they cross midnight (and a clock change)."""
    at = draw(st.sampled_from(STARTS))
    activities = []
    for n in range(draw(st.integers(min_value=1, max_value=40))):
        at += draw(GAPS_MS)
        kind = draw(st.sampled_from([Kind.CLICK, Kind.CLICK, Kind.CLICK, Kind.APP, Kind.CHECKIN]))
        module = draw(st.sampled_from(["A", "B", None])) if kind is Kind.CLICK else None
        activities.append(Activity(f"e{n:03d}", kind, at, module))
    return activities


def bounded_lateness_order(data: st.DataObject, activities: list[Activity], lateness_ms: int
                           ) -> list[Activity]:
    """Any arrival order in which each activity is at most `lateness_ms` older than the newest
    seen before it: the next to arrive may not be more than the bound ahead of the oldest
    still to come."""
    waiting = sorted(activities, key=Activity.order_key)
    arrived: list[Activity] = []
    while waiting:
        limit = waiting[0].at_ms + lateness_ms
        allowed = [a for a in waiting if a.at_ms <= limit]
        chosen = allowed[data.draw(st.integers(min_value=0, max_value=len(allowed) - 1))]
        waiting.remove(chosen)
        arrived.append(chosen)
    return arrived


BATCH_SIZES = st.lists(st.integers(min_value=1, max_value=6), max_size=50)


def in_order_view(activities: list[Activity], lateness_ms: int) -> dict[date, DayTotals]:
    ordered = sorted(activities, key=Activity.order_key)
    stream = SimulatedStream(calendar=CAL, lateness_ms=lateness_ms)
    return stream.deliver_all([[a] for a in ordered]).shown()


@settings(max_examples=200, deadline=None)
@given(student_activity(), LATENESS_CHOICES, BATCH_SIZES)
def test_in_order_delivery_matches_the_specification(
    activities: list[Activity], lateness_ms: int, sizes: list[int]
) -> None:
    stream = SimulatedStream(calendar=CAL, lateness_ms=lateness_ms)
    stream.deliver_all(in_batches(activities, sizes))
    assert stream.late == []
    assert figures_of(stream.shown()) == expected_days(activities)


@settings(max_examples=200, deadline=None)
@given(student_activity(), LATENESS_CHOICES, BATCH_SIZES, st.data())
def test_any_order_within_the_lateness_bound_gives_the_in_order_view(
    activities: list[Activity], lateness_ms: int, sizes: list[int], data: st.DataObject
) -> None:
    arrival = bounded_lateness_order(data, activities, lateness_ms)
    state = ActivityState()
    for batch in in_batches(arrival, sizes):
        outcome = apply(state, batch, lateness_ms=lateness_ms, calendar=CAL)
        assert outcome.late == []
        assert outcome.duplicates == []
    days = {CAL.day_of(a.at_ms) for a in activities}
    shown = view(state, days, clock_ms=FAR_FUTURE_MS, calendar=CAL)
    assert shown == in_order_view(activities, lateness_ms)
    assert figures_of(shown) == expected_days(activities)


@settings(max_examples=200, deadline=None)
@given(student_activity(), LATENESS_CHOICES, BATCH_SIZES, st.data())
def test_any_order_at_all_with_redeliveries_and_late_refolds_gives_the_in_order_view(
    activities: list[Activity], lateness_ms: int, sizes: list[int], data: st.DataObject
) -> None:
    redelivered = data.draw(st.lists(st.sampled_from(activities), max_size=5))
    arrival = data.draw(st.permutations(activities + redelivered))
    stream = SimulatedStream(calendar=CAL, lateness_ms=lateness_ms)
    stream.deliver_all(in_batches(arrival, sizes))
    assert stream.shown() == in_order_view(activities, lateness_ms)
    assert figures_of(stream.shown()) == expected_days(activities)


@settings(max_examples=150, deadline=None)
@given(student_activity(), LATENESS_CHOICES, BATCH_SIZES, st.data())
def test_snapshots_restored_mid_stream_resume_exactly(
    activities: list[Activity], lateness_ms: int, sizes: list[int], data: st.DataObject
) -> None:
    arrival = data.draw(st.permutations(activities))
    batches = in_batches(arrival, sizes)
    restore_after = data.draw(st.sets(st.integers(min_value=0, max_value=len(batches) - 1)))
    straight = SimulatedStream(calendar=CAL, lateness_ms=lateness_ms)
    restarted = SimulatedStream(calendar=CAL, lateness_ms=lateness_ms)
    for index, batch in enumerate(batches):
        straight.deliver(batch)
        restarted.deliver(batch)
        if index in restore_after:
            snapshot = json.loads(json.dumps(restarted.state.to_dict()))
            restarted.state = ActivityState.from_dict(snapshot)
            assert restarted.state == straight.state
    assert restarted.shown() == straight.shown()
    assert figures_of(restarted.shown()) == expected_days(activities)


DAY_MS = 24 * 60 * MINUTE_MS


def test_a_day_still_receiving_clicks_is_not_forgotten_when_app_choices_run_weeks_ahead() -> None:
    clicks = [click(f"c{k}", TEN_AM + k * 2 * MINUTE_MS) for k in range(12)]
    apps = [app(f"p{k}", TEN_AM + k * DAY_MS) for k in range(30)]
    in_order = SimulatedStream(calendar=CAL).deliver_all(
        [sorted([*clicks, *apps], key=lambda a: a.at_ms)])
    # A consumer catching up starts every topic at once, then the app topic runs ahead.
    ahead = SimulatedStream(calendar=CAL).deliver_all(
        [clicks[:1], apps, clicks[1:6], clicks[6:]])
    assert ahead.late == []
    assert ahead.shown() == in_order.shown()
    assert ahead.shown()[DAY].ele_minutes == 24.0


@pytest.mark.parametrize("first_app_day", [2, 20])
def test_the_first_activity_of_a_kind_on_a_forgotten_day_is_refolded_from_storage(
    first_app_day: int,
) -> None:
    clicks = [click(f"c{k}", TEN_AM + k * DAY_MS) for k in range(60)]
    first_app = app("p", TEN_AM + first_app_day * DAY_MS + MINUTE_MS)
    stream = SimulatedStream(calendar=CAL).deliver_all([clicks, [first_app]])
    in_order = SimulatedStream(calendar=CAL).deliver_all(
        [sorted([*clicks, first_app], key=lambda a: a.at_ms)])
    assert stream.late == [first_app]
    assert stream.shown() == in_order.shown()


def test_state_stays_bounded_when_one_kind_stops_and_another_goes_on() -> None:
    stream = SimulatedStream(calendar=CAL)
    stream.deliver([click("c", TEN_AM)])
    stream.deliver([app(f"p{k}", TEN_AM + k * DAY_MS) for k in range(1, 200)])
    assert len(stream.state.days) <= DAYS_KEPT + SKEW_DAYS_KEPT


def test_a_refold_keeps_activity_still_waiting_from_before_the_refolded_days() -> None:
    """A student's only check-in waits for another to move its kind's bound; a late click
    some days later refolds only the days from the one before it."""
    checkin = Activity("k", Kind.CHECKIN, TEN_AM + MINUTE_MS)
    clicks = [click(f"c{k}", TEN_AM + k * DAY_MS) for k in range(6)]
    stream = SimulatedStream(calendar=CAL).deliver_all(
        [[checkin, *clicks[:3]], clicks[4:], clicks[3:4]])
    in_order = SimulatedStream(calendar=CAL).deliver_all([[checkin, *clicks]])
    assert stream.late == [clicks[3]]
    assert stream.shown() == in_order.shown()
    assert stream.shown()[DAY].event_checkins == 1
