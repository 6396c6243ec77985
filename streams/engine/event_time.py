"""How far event time has got across every input topic and partition (the low watermark).

Rules judge a day only once all activity for it is in. Topics and partitions are consumed at
their own pace, so event time counts only as far as the slowest partition that still has
messages waiting (its high watermark past the last offset processed) or has delivered any
within the idle time: a partition caught up with what the consumer knows of it may have more on
the broker not fetched yet, and when history is replayed a second of fetching can be a day of
event time. Once every partition is caught up and idle, event time is the newest event seen:
a partition that is merely quiet never holds the others back for long. A partition with
messages waiting that nothing has been read from yet leaves event time unknown: its events
could be of any date.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

TopicPartition = tuple[str, int]
HighWater = Callable[[str, int], int | None]


def no_lag(topic: str, partition: int) -> int | None:
    return None


@dataclass
class EventTimeProgress:
    newest_ms: dict[TopicPartition, int] = field(default_factory=dict)
    next_offset: dict[TopicPartition, int] = field(default_factory=dict)
    # When each partition last delivered a message, by the wall clock.
    seen_wall_ms: dict[TopicPartition, int] = field(default_factory=dict)
    # The assigned partitions that had messages waiting when last measured; None until the
    # consumer has been measured once (a file import has nothing waiting beyond what it read).
    waiting: set[TopicPartition] | None = field(default_factory=set)
    # Event time a restarted worker's state shows was reached before the restart: once nothing
    # is left to read, event time is at least this, so days completed by events processed
    # before a restart are judged without new events. `restored`: the state was looked at.
    reached_before: int | None = None
    restored: bool = False

    def note_waiting(self, partitions: set[TopicPartition]) -> None:
        self.waiting = set(partitions)

    def await_measurement(self) -> None:
        self.waiting = None

    def observe(self, topic: str, partition: int, offset: int, at_ms: int, wall_ms: int = 0
                ) -> None:
        key = (topic, partition)
        self.seen_wall_ms[key] = max(wall_ms, self.seen_wall_ms.get(key, 0))
        if at_ms > self.newest_ms.get(key, 0):
            self.newest_ms[key] = at_ms
        if offset + 1 > self.next_offset.get(key, 0):
            self.next_offset[key] = offset + 1

    def watermark(self, highwater: HighWater = no_lag, *, active_since_ms: int | None = None
                  ) -> int | None:
        """`active_since_ms`: partitions that delivered a message since then count as still
        arriving (None: none do, as in a file import, which has read everything there is)."""
        if self.waiting is None or self.newest() is None:
            return None
        if any(key not in self.newest_ms for key in self.waiting):
            return None
        holding = []
        for key, newest in self.newest_ms.items():
            end = highwater(*key)
            behind = end is not None and end > self.next_offset.get(key, 0)
            active = (active_since_ms is not None
                      and self.seen_wall_ms.get(key, 0) >= active_since_ms)
            if behind or active:
                holding.append(newest)
        return min(holding) if holding else self.newest()

    def newest(self) -> int | None:
        """The newest event time seen on any partition, or reached before a restart."""
        return max((*self.newest_ms.values(),
                    *([] if self.reached_before is None else [self.reached_before])),
                   default=None)

    def restore(self, reached_ms: int | None) -> None:
        """Take in the event time the students' state shows (None: it shows none)."""
        self.restored = True
        self.reached_before = reached_ms

    def copy(self) -> EventTimeProgress:
        return EventTimeProgress(
            dict(self.newest_ms), dict(self.next_offset), dict(self.seen_wall_ms),
            None if self.waiting is None else set(self.waiting), self.reached_before,
            self.restored)

    def partition_snapshot(self, partition: int) -> dict[str, list[int]]:
        """How far each input topic's `partition` has got: its newest event time and next
        offset, by topic (for the partition's snapshot in the changelog)."""
        return {topic: [newest, self.next_offset.get((topic, p), 0)]
                for (topic, p), newest in self.newest_ms.items() if p == partition}

    def restore_partition(self, partition: int, snapshot: dict[str, list[int]]) -> None:
        """Take in a partition's snapshot (what has been seen since counts too)."""
        for topic, (newest, next_offset) in snapshot.items():
            key = (topic, partition)
            self.newest_ms[key] = max(newest, self.newest_ms.get(key, 0))
            self.next_offset[key] = max(next_offset, self.next_offset.get(key, 0))

    def partitions(self) -> set[int]:
        return {partition for _, partition in self.newest_ms}

    def advance_all(self, now_ms: int) -> None:
        """The stream has been quiet: let the wall clock stand in for event time."""
        for key, ms in self.newest_ms.items():
            self.newest_ms[key] = max(ms, now_ms)
        if self.reached_before is not None:
            self.reached_before = max(self.reached_before, now_ms)
