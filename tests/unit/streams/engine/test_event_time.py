"""When a day counts as complete: the low watermark of event time across input partitions."""

from __future__ import annotations

from streams.engine.event_time import EventTimeProgress, HighWater

HOUR_MS = 3_600_000


def ends(**by_partition: int) -> HighWater:
    def highwater(topic: str, partition: int) -> int | None:
        return by_partition.get(f"{topic.split('.')[-1]}{partition}")
    return highwater


def test_the_slowest_partition_with_messages_waiting_sets_event_time() -> None:
    progress = EventTimeProgress()
    progress.observe("engage.clicks", 0, 9, 10 * HOUR_MS)
    progress.observe("engage.menu", 0, 99, 50 * HOUR_MS)
    assert progress.watermark(ends(clicks0=500, menu0=100)) == 10 * HOUR_MS
    assert progress.watermark(ends(clicks0=10, menu0=100)) == 50 * HOUR_MS


def test_a_partition_with_messages_waiting_but_nothing_read_leaves_event_time_unknown() -> None:
    progress = EventTimeProgress()
    progress.observe("engage.menu", 0, 99, 50 * HOUR_MS)
    progress.note_waiting({("engage.clicks", 3)})
    assert progress.watermark() is None
    progress.observe("engage.clicks", 3, 0, 2 * HOUR_MS)
    assert progress.watermark(ends(clicks3=400, menu0=100)) == 2 * HOUR_MS


def test_a_worker_judges_nothing_before_it_has_measured_what_is_waiting() -> None:
    progress = EventTimeProgress()
    progress.await_measurement()
    progress.observe("engage.menu", 0, 0, 50 * HOUR_MS)
    assert progress.watermark() is None
    progress.note_waiting(set())
    assert progress.watermark() == 50 * HOUR_MS


def test_a_quiet_partition_never_holds_the_others_back() -> None:
    progress = EventTimeProgress()
    progress.observe("engage.clicks", 0, 9, 10 * HOUR_MS)
    progress.observe("engage.menu", 0, 99, 50 * HOUR_MS)
    progress.note_waiting({("engage.menu", 0)})
    assert progress.watermark(ends(clicks0=10, menu0=100)) == 50 * HOUR_MS


def test_a_caught_up_partition_still_delivering_holds_event_time_until_it_is_idle() -> None:
    """Caught up with what the consumer has fetched is not caught up with the broker: in a
    replay, the next fetch of the slower partition can be a day behind the others."""
    progress = EventTimeProgress()
    progress.observe("engage.clicks", 0, 9, 10 * HOUR_MS, wall_ms=1_000)
    progress.observe("engage.menu", 0, 99, 50 * HOUR_MS, wall_ms=1_500)
    caught_up = ends(clicks0=10, menu0=100)
    assert progress.watermark(caught_up, active_since_ms=500) == 10 * HOUR_MS
    assert progress.watermark(caught_up, active_since_ms=1_200) == 50 * HOUR_MS
    assert progress.watermark(caught_up, active_since_ms=2_000) == 50 * HOUR_MS


def test_event_time_reached_before_a_restart_counts_once_nothing_is_left_to_read() -> None:
    progress = EventTimeProgress()
    progress.restore(40 * HOUR_MS)
    assert progress.watermark() == 40 * HOUR_MS, "nothing to read: judge what the state reached"
    progress.observe("engage.clicks", 0, 9, 10 * HOUR_MS)
    assert progress.watermark(ends(clicks0=500)) == 10 * HOUR_MS, "never holds replay back"
    assert progress.watermark(ends(clicks0=10)) == 40 * HOUR_MS
    progress.advance_all(60 * HOUR_MS)
    assert progress.watermark(ends(clicks0=10)) == 60 * HOUR_MS


def test_a_copy_is_independent_of_what_comes_after() -> None:
    progress = EventTimeProgress()
    progress.observe("engage.clicks", 0, 9, 10 * HOUR_MS, wall_ms=1)
    progress.note_waiting({("engage.clicks", 0)})
    before = progress.copy()
    progress.observe("engage.clicks", 0, 20, 30 * HOUR_MS, wall_ms=2)
    progress.note_waiting(set())
    progress.restore(50 * HOUR_MS)
    assert before == EventTimeProgress({("engage.clicks", 0): 10 * HOUR_MS},
                                       {("engage.clicks", 0): 10}, {("engage.clicks", 0): 1},
                                       {("engage.clicks", 0)})
