"""The consent policy (SPEC "Consent")."""

from __future__ import annotations

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
)

T0 = datetime(2026, 10, 5, 9, tzinfo=UTC)


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


def test_a_refusal_without_a_grant_in_opt_in_deletes_nothing() -> None:
    _, transition = apply_change(ConsentMode.OPT_IN, ConsentState(), False, T0)
    assert transition is ConsentTransition.UNCHANGED


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


def test_state_survives_a_snapshot() -> None:
    state, _ = apply_change(ConsentMode.OPT_IN, ConsentState(), True, T0)
    assert ConsentState.from_dict(state.to_dict()) == state


@given(st.lists(st.tuples(st.booleans(), st.integers(min_value=0, max_value=10_000)),
                min_size=1, max_size=12, unique_by=lambda c: c[1]),
       st.sampled_from(list(ConsentMode)), st.randoms())
def test_the_latest_change_wins_whatever_the_arrival_order(
    changes: list[tuple[bool, int]], mode: ConsentMode, rng: random.Random
) -> None:
    def fold(order: list[tuple[bool, int]]) -> ConsentState:
        state = ConsentState()
        for granted, minute in order:
            state, _ = apply_change(mode, state, granted, T0 + timedelta(minutes=minute))
        return state

    shuffled = list(changes)
    rng.shuffle(shuffled)
    assert fold(sorted(changes, key=lambda c: c[1])) == fold(shuffled)
