"""The students' changelog records are what the table's codec reads back on recovery."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from faust.serializers import codecs

from scoring.consent import ConsentState
from scoring.measures import Activity, DayTotals, Kind
from scoring.rules import AttendanceMark
from scoring.sessionize import ActivityState
from scoring.student import StudentState
from streams.state_store import TableStates


class RecordingTable:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.sent: list[tuple[int | None, str, Any, str | None]] = []

    def send_changelog(self, partition: int | None, key: str, value: Any,
                       value_serializer: str | None = None) -> None:
        self.sent.append((partition, key, value, value_serializer))


def a_student() -> StudentState:
    at = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
    return StudentState(
        "uni", "s1", partition=3,
        activity=ActivityState(
            max_seen={Kind.CLICK: 1_795_600_000_000}, final_upto={Kind.CLICK: 1_795_599_400_000},
            pending=[Activity("e-9", Kind.CLICK, 1_795_600_000_000, "BIO1001")],
            days={date(2026, 11, 24): DayTotals({"BIO1001": 240_000}, 60_000, 2, 1)},
        ),
        consent=ConsentState(granted=True, changed_at=at),
        college="CLES", tutor_id="t-ada", daily_scores={date(2026, 11, 24): 1.25},
        first_active_day=date(2026, 11, 1), last_active_day=date(2026, 11, 24),
        attendance={"LEC-1": AttendanceMark("LEC-1", date(2026, 11, 24), at, "present")},
        evaluated_through=date(2026, 11, 23), scored_through=date(2026, 11, 24),
    )


def test_a_put_sends_the_state_as_the_tables_json_codec_reads_it_back() -> None:
    table = RecordingTable()
    states = TableStates(table)
    state = a_student()
    states.put(state)
    assert table.data == {"uni:s1": state}
    [(partition, key, value, serializer)] = table.sent
    assert (partition, key, serializer) == (3, "uni:s1", "raw")
    # Recovery decodes changelog values with the table's codec (JSON) into plain dicts.
    assert StudentState.from_dict(codecs.loads("json", value)) == state
