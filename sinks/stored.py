"""The reads and the deletion the engine's batch path makes, run on the sink's ClickHouse
thread (one client, never used by two tasks at once)."""

from __future__ import annotations

from datetime import datetime

from scoring.measures import Activity
from sinks import erasure, queries
from sinks.rows import ReviewQueueRow
from sinks.writer import ClickHouseSink


class StoredRecords:
    def __init__(self, sink: ClickHouseSink) -> None:
        self._sink = sink

    async def engagement_activity(self, tenant: str, student_id: str, since: datetime
                                  ) -> list[Activity]:
        return await self._sink.run(
            lambda client: queries.engagement_activity(client, tenant, student_id, since))

    async def alerts(self, alert_ids: list[str]) -> dict[str, ReviewQueueRow]:
        found = await self._sink.run(lambda client: queries.alert_rows(client, alert_ids))
        return {row.alert_id: row for row in found}

    async def erase_engagement(self, tenant: str, student_id: str) -> dict[str, int]:
        return await self._sink.run(
            lambda client: erasure.delete_engagement(client, tenant, student_id))
