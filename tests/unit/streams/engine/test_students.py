"""The engine process's students: changelog records as the Faust table's codecs read them
back, and what recovery restores."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import orjson
from faust.serializers import codecs

from scoring.consent import ConsentState
from scoring.measures import Activity, DayTotals, Kind
from scoring.rules import AttendanceMark
from scoring.sessionize import ActivityState
from scoring.student import StudentState
from streams.engine.students import ChangelogRecord, ChangelogStates


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


class Sent(list[list[ChangelogRecord]]):
    """Each flush's changelog records, as the engine would send them to Kafka."""

    async def __call__(self, records: list[ChangelogRecord]) -> None:
        self.append(records)


def test_a_put_sends_the_state_as_the_tables_json_codecs_read_it_back() -> None:
    sent = Sent()
    states = ChangelogStates(sent)
    state = a_student()
    states.put(state)
    assert states.get("uni:s1") is state
    asyncio.run(states.flush())
    [[(partition, key, value)]] = sent
    assert partition == 3
    # Faust's recovery decodes changelog keys and values with the table's codec (JSON).
    assert codecs.loads("json", key) == "uni:s1"
    assert StudentState.from_dict(codecs.loads("json", value)) == state


def test_restored_records_become_the_students_state_the_last_one_winning() -> None:
    states = ChangelogStates(Sent())
    older, newer = a_student(), a_student()
    older.college = "OLD"
    states.put(older)
    states.apply_restored([("uni:s1", 3, orjson.dumps(older.to_dict())),
                           ("uni:s1", 3, orjson.dumps(newer.to_dict())),
                           ("uni:s2", 4, orjson.dumps(a_student().to_dict())),
                           ("uni:s2", 4, None)])
    assert len(states) == 1
    assert states.get("uni:s1") == newer
    assert states.get("uni:s2") is None
    assert [s.key for s in states.states()] == ["uni:s1"]


def test_keeping_partitions_forgets_the_students_of_the_others() -> None:
    states = ChangelogStates(Sent())
    ours = a_student()
    theirs = StudentState("uni", "s2", partition=5)
    states.put(ours)
    states.apply_restored([("uni:s2", 5, orjson.dumps(theirs.to_dict())),
                           ("uni:s3", 3, orjson.dumps(StudentState("uni", "s3", 3).to_dict()))])
    assert states.keep_partitions({3}) == 1
    assert sorted(s.key for s in states.states()) == ["uni:s1", "uni:s3"]


def test_a_rollback_sends_nothing_the_failed_batch_queued() -> None:
    sent = Sent()
    states = ChangelogStates(sent)
    before = a_student()
    states.put(before.clone())
    states.restore(before.key, before)
    asyncio.run(states.flush())
    assert sent == []
    assert states.get(before.key) is before
