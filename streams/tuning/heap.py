"""Handing memory the worker has freed back to the operating system.

A batch allocates a great deal for a moment (events, rows, messages, changelog records, copies
kept for rollback) and frees it when written. The C allocator keeps freed memory for reuse,
scattered among live blocks and across the per-thread arenas that the Kafka consumer and
ClickHouse threads use, so the worker's resident size climbed with each large batch. Asking
glibc to trim after a batch gives the free pages back, for about a millisecond a call (the
README's Measured section has what it did to the bench's peak).
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable

Trim = Callable[[int], int]


def glibc_malloc_trim() -> Trim | None:
    """glibc's `malloc_trim`, or None where the C library has none (musl, macOS)."""
    try:
        trim: Trim | None = getattr(ctypes.CDLL(None), "malloc_trim", None)
        return trim
    except OSError:
        return None


class HeapTrimmer:
    """Trims at most once every `every_seconds` (0: never), when asked after a batch."""

    def __init__(self, every_seconds: float, trim: Trim | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._every = every_seconds
        self._trim = trim
        self._clock = clock
        self._last: float | None = None

    @property
    def enabled(self) -> bool:
        return self._trim is not None and self._every > 0

    def after_batch(self) -> bool:
        """Trims if the interval has passed; says whether it did, so that other allocators
        (the embedded ClickHouse engine's) can hand theirs back at the same pace."""
        if self._trim is None or self._every <= 0:
            return False
        now = self._clock()
        if self._last is not None and now - self._last < self._every:
            return False
        self._last = now
        self._trim(0)
        return True
