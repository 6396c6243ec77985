"""The consent policy (SPEC "Consent")."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from scoring.consent import (
    ConsentMode,
    ConsentState,
    ConsentTransition,
    allows,
    apply_change,
    effective,
)

T0 = datetime(2026, 10, 5, 9, tzinfo=UTC)

changes_strategy = st.lists(
    st.tuples(st.booleans(), st.integers(min_value=0, max_value=500)), max_size=12
)
modes = st.sampled_from(list(ConsentMode))


def minutes(offset: int) -> datetime:
    return T0 + timedelta(minutes=offset)


def fold(mode: ConsentMode, changes: list[tuple[bool, int]]) -> ConsentState:
    state = ConsentState()
    for granted, offset in changes:
        state, _ = apply_change(mode, state, granted, minutes(offset))
    return state


def test_opt_in_processes_nothing_until_a_grant_and_only_from_the_grant_on() -> None:
    state = ConsentState()
    assert not allows(ConsentMode.OPT_IN, state, T0)
    state, transition = apply_change(ConsentMode.OPT_IN, state, True, T0)
    assert transition is ConsentTransition.GRANTED
    assert allows(ConsentMode.OPT_IN, state, T0)
    assert not allows(ConsentMode.OPT_IN, state, T0 - timedelta(seconds=1))


def test_notice_processes_until_an_opt_out_which_is_a_withdrawal() -> None:
    state = ConsentState()
    assert allows(ConsentMode.NOTICE, state, T0 - timedelta(days=30))
    state, transition = apply_change(ConsentMode.NOTICE, state, False, T0)
    assert transition is ConsentTransition.WITHDRAWN
    assert not allows(ConsentMode.NOTICE, state, T0 + timedelta(days=1))


def test_a_refusal_without_a_grant_in_opt_in_deletes_nothing_but_is_recorded() -> None:
    state, transition = apply_change(ConsentMode.OPT_IN, ConsentState(), False, T0)
    assert transition is ConsentTransition.UNCHANGED
    assert state == ConsentState(False, T0)
    # An older grant arriving afterwards cannot override the later refusal.
    after, late = apply_change(ConsentMode.OPT_IN, state, True, T0 - timedelta(hours=1))
    assert late is ConsentTransition.STALE
    assert not allows(ConsentMode.OPT_IN, after, T0 + timedelta(days=1))


def test_withdrawal_then_a_later_grant_processes_from_the_grant_on() -> None:
    state, _ = apply_change(ConsentMode.OPT_IN, ConsentState(), True, T0)
    state, withdrawn = apply_change(ConsentMode.OPT_IN, state, False, T0 + timedelta(days=3))
    state, granted = apply_change(ConsentMode.OPT_IN, state, True, T0 + timedelta(days=5))
    assert (withdrawn, granted) == (ConsentTransition.WITHDRAWN, ConsentTransition.GRANTED)
    assert not allows(ConsentMode.OPT_IN, state, T0 + timedelta(days=4))
    assert allows(ConsentMode.OPT_IN, state, T0 + timedelta(days=5))


def test_an_older_consent_event_arriving_late_changes_nothing() -> None:
    state, _ = apply_change(ConsentMode.OPT_IN, ConsentState(), True, T0)
    after, transition = apply_change(ConsentMode.OPT_IN, state, False, T0 - timedelta(hours=1))
    assert transition is ConsentTransition.STALE
    assert after == state


def test_the_same_event_twice_changes_nothing() -> None:
    state, _ = apply_change(ConsentMode.OPT_IN, ConsentState(), True, T0)
    assert apply_change(ConsentMode.OPT_IN, state, True, T0) == (
        state, ConsentTransition.UNCHANGED)


def test_a_refusal_and_a_grant_at_the_same_instant_leave_consent_refused() -> None:
    for order in ([True, False], [False, True]):
        state = fold(ConsentMode.NOTICE, [(granted, 0) for granted in order])
        assert state == ConsentState(False, T0)
        assert not allows(ConsentMode.NOTICE, state, T0 + timedelta(days=1))


def test_state_survives_a_json_snapshot() -> None:
    state, _ = apply_change(ConsentMode.OPT_IN, ConsentState(), True, T0)
    for snapshot in (state, ConsentState()):
        assert ConsentState.from_dict(json.loads(json.dumps(snapshot.to_dict()))) == snapshot


@given(changes_strategy, modes, st.randoms())
def test_the_latest_change_wins_whatever_the_arrival_order(
    changes: list[tuple[bool, int]], mode: ConsentMode, rng: random.Random
) -> None:
    shuffled = list(changes)
    rng.shuffle(shuffled)
    assert fold(mode, sorted(changes, key=lambda c: c[1])) == fold(mode, shuffled)


@given(changes_strategy, st.integers(min_value=-100, max_value=600))
def test_opt_in_never_allows_activity_before_the_first_grant(
    changes: list[tuple[bool, int]], activity_offset: int
) -> None:
    state = fold(ConsentMode.OPT_IN, changes)
    grants = [offset for granted, offset in changes if granted]
    if not grants or activity_offset < min(grants):
        assert not allows(ConsentMode.OPT_IN, state, minutes(activity_offset))


@given(changes_strategy, modes)
def test_a_withdrawal_is_reported_exactly_when_processing_stops(
    changes: list[tuple[bool, int]], mode: ConsentMode
) -> None:
    state = ConsentState()
    for granted, offset in changes:
        before = effective(mode, state)
        state, transition = apply_change(mode, state, granted, minutes(offset))
        after = effective(mode, state)
        assert (transition is ConsentTransition.WITHDRAWN) == (before and not after)
        assert (transition is ConsentTransition.GRANTED) == (not before and after)


@given(changes_strategy, modes)
def test_any_state_survives_a_json_snapshot(
    changes: list[tuple[bool, int]], mode: ConsentMode
) -> None:
    state = fold(mode, changes)
    assert ConsentState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
