"""What the batch step reports to the metrics, and how a batch's reports wait for its outcome."""

from __future__ import annotations

from sinks.reports import FlushReport


class Hooks:
    """Metric hooks at the edges; the worker passes one wired to Prometheus."""

    def consumed(self, topic: str, event_type: str, count: int) -> None: ...
    def dead_lettered(self, reason: str, count: int = 1) -> None: ...
    def without_consent(self, tenant: str, count: int = 1) -> None: ...
    def late(self, tenant: str, count: int = 1) -> None: ...
    def duplicate(self, count: int = 1) -> None: ...
    def roster_field_dropped(self, reason: str, count: int = 1) -> None: ...
    def alert_raised(self, rule: str, count: int = 1) -> None: ...
    def judged_through(self, tenant: str, day_end_ms: int) -> None: ...
    def flushed(self, report: FlushReport, arrivals_ms: list[int], now_ms: int) -> None: ...


class BatchHooks(Hooks):
    """Holds one batch's counts until the batch is written, then hands them on.

    A batch that fails is rolled back and retried record by record; had its counts gone out as
    they happened, its dead letters, alerts and late events would be counted twice. Writes are
    the exception: `flushed` reports rows that reached ClickHouse whatever happens next."""

    def __init__(self, target: Hooks) -> None:
        self._target = target
        self._counts: dict[tuple[str, tuple[str, ...]], int] = {}

    def _count(self, name: str, labels: tuple[str, ...], count: int) -> None:
        key = (name, labels)
        self._counts[key] = self._counts.get(key, 0) + count

    def consumed(self, topic: str, event_type: str, count: int) -> None:
        self._count("consumed", (topic, event_type), count)

    def dead_lettered(self, reason: str, count: int = 1) -> None:
        self._count("dead_lettered", (reason,), count)

    def without_consent(self, tenant: str, count: int = 1) -> None:
        self._count("without_consent", (tenant,), count)

    def late(self, tenant: str, count: int = 1) -> None:
        self._count("late", (tenant,), count)

    def duplicate(self, count: int = 1) -> None:
        self._count("duplicate", (), count)

    def roster_field_dropped(self, reason: str, count: int = 1) -> None:
        self._count("roster_field_dropped", (reason,), count)

    def alert_raised(self, rule: str, count: int = 1) -> None:
        self._count("alert_raised", (rule,), count)

    def judged_through(self, tenant: str, day_end_ms: int) -> None:
        raise TypeError("a day counts as judged only once its batch is written; "
                        "report it to the processor's own hooks")

    def flushed(self, report: FlushReport, arrivals_ms: list[int], now_ms: int) -> None:
        self._target.flushed(report, arrivals_ms, now_ms)

    def hand_on(self) -> None:
        """The batch is written: pass its counts on, once."""
        counts, self._counts = self._counts, {}
        for (name, labels), count in counts.items():
            getattr(self._target, name)(*labels, count)


HookCall = tuple[str, tuple[object, ...]]


class RecordedHooks(Hooks):
    """Keeps each report as a call to replay in another process: the engine process records
    them and the Faust side, which serves /metrics, replays them on its own hooks."""

    def __init__(self) -> None:
        self._calls: list[HookCall] = []

    def take(self) -> list[HookCall]:
        calls, self._calls = self._calls, []
        return calls

    def consumed(self, topic: str, event_type: str, count: int) -> None:
        self._calls.append(("consumed", (topic, event_type, count)))

    def dead_lettered(self, reason: str, count: int = 1) -> None:
        self._calls.append(("dead_lettered", (reason, count)))

    def without_consent(self, tenant: str, count: int = 1) -> None:
        self._calls.append(("without_consent", (tenant, count)))

    def late(self, tenant: str, count: int = 1) -> None:
        self._calls.append(("late", (tenant, count)))

    def duplicate(self, count: int = 1) -> None:
        self._calls.append(("duplicate", (count,)))

    def roster_field_dropped(self, reason: str, count: int = 1) -> None:
        self._calls.append(("roster_field_dropped", (reason, count)))

    def alert_raised(self, rule: str, count: int = 1) -> None:
        self._calls.append(("alert_raised", (rule, count)))

    def judged_through(self, tenant: str, day_end_ms: int) -> None:
        self._calls.append(("judged_through", (tenant, day_end_ms)))

    def flushed(self, report: FlushReport, arrivals_ms: list[int], now_ms: int) -> None:
        self._calls.append(("flushed", (report, arrivals_ms, now_ms)))


def replay(calls: list[HookCall], target: Hooks) -> None:
    for name, args in calls:
        getattr(target, name)(*args)
