"""What a flush wrote: apart from the writer, so that reading a report (the worker's Faust
process replays the engine's) does not load the ClickHouse client."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FlushReport:
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    attempts: int = 1
