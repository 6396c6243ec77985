"""The students' Faust table as the worker's Faust process holds it: nothing at all.

The state lives in the engine process (`streams.engine.server`), which writes the table's
changelog itself. The Faust process keeps the table for what Faust does with it: the changelog
topic, created compacted and co-partitioned with the input, and recovery, which reads back the
assigned partitions' records before any event is consumed. This store hands what recovery
reads to the engine, and tells it which partitions are its own once recovery is done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from faust.stores import STORES, memory
from faust.types import TP, EventT

# A host part, as a URL without one is false and Faust would take the app's store instead.
FORWARDING_STORE_URL = "engine://process"

Forward = Callable[[list[tuple[str, int, bytes | None]]], None]
KeepOnly = Callable[[set[int]], Any]


class ForwardingStore(memory.Store):
    """Set `forward` and `keep_only` before the app starts."""

    forward: Forward | None = None
    keep_only: KeepOnly | None = None

    def apply_changelog_batch(self, batch: Iterable[EventT], to_key: Callable[[Any], Any],
                              to_value: Callable[[Any], Any]) -> None:
        assert self.forward is not None, "the engine store is not connected to the engine"
        # Values as written, not decoded: the engine decodes each student on first use.
        records = [(to_key(event.key), event.message.partition, event.message.value)
                   for event in batch]
        if records:
            self.forward(records)

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        assert self.keep_only is not None, "the engine store is not connected to the engine"
        await self.keep_only({tp.partition for tp in active_tps})


STORES.aliases.setdefault("engine", f"{__name__}:ForwardingStore")
