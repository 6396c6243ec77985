"""A worker is called stalled only when it could consume and has not, for long enough."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.worker.stall import StallWatch


def checks(watch: StallWatch, times: list[float], **state: bool) -> list[bool]:
    return [watch.check(t, **state) for t in times]


def test_ready_idle_and_waiting_for_long_enough_is_a_stall() -> None:
    watch = StallWatch(after_seconds=20)
    seen = checks(watch, [0, 5, 10, 25, 30], ready=True, waiting=True, in_batch=False)
    assert seen == [False, False, False, True, True]


def test_a_batch_taken_starts_the_wait_again() -> None:
    watch = StallWatch(after_seconds=20)
    checks(watch, [0, 5, 24], ready=True, waiting=True, in_batch=False)
    watch.batch_done()
    assert checks(watch, [26, 30, 45, 51], ready=True, waiting=True, in_batch=False) == [
        False, False, False, True]


@given(st.lists(st.floats(min_value=0, max_value=10_000), min_size=1, max_size=30),
       st.sampled_from([(False, True, False), (True, False, False), (True, True, True)]))
def test_never_a_stall_while_recovering_caught_up_or_inside_a_batch(
        times: list[float], state: tuple[bool, bool, bool]) -> None:
    """Restoring state, having nothing to read, or a batch held up by ClickHouse retries is
    not a stall, however long it lasts."""
    ready, waiting, in_batch = state
    watch = StallWatch(after_seconds=1)
    assert not any(checks(watch, sorted(times), ready=ready, waiting=waiting,
                          in_batch=in_batch))
