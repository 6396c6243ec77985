"""Freed memory goes back to the system after batches, at most once an interval."""

from __future__ import annotations

from streams.tuning.heap import HeapTrimmer, glibc_malloc_trim


class RecordingTrim:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, pad: int) -> int:
        self.calls.append(pad)
        return 1


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_trims_after_a_batch_at_most_once_an_interval() -> None:
    trim = RecordingTrim()
    clock = Clock()
    heap = HeapTrimmer(1.0, trim, clock)
    said = [heap.after_batch()]
    clock.now += 0.4
    said.append(heap.after_batch())
    clock.now += 0.6
    said.append(heap.after_batch())
    assert said == [True, False, True]
    assert trim.calls == [0, 0]


def test_zero_seconds_or_no_trim_in_the_c_library_never_trims() -> None:
    trim = RecordingTrim()
    assert not HeapTrimmer(0, trim).after_batch()
    assert trim.calls == []
    heap = HeapTrimmer(1.0, None)
    assert not heap.after_batch()
    assert not heap.enabled


def test_glibc_trim_is_found_and_callable_on_this_system() -> None:
    trim = glibc_malloc_trim()
    assert trim is not None, "the worker's image (Debian) and CI run on glibc"
    assert trim(0) in (0, 1)
