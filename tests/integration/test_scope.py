"""What each identity may read, query by query, on the real ClickHouse engine (the scope the
worker's engine process applies to every read it answers)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from scoring.config import Role
from sinks.clickhouse import migrate
from sinks.rows import ReviewQueueRow, StudentsRow
from sinks.writer import ClickHouseSink
from streams.access import LOCAL, Identity
from streams.errors import QueryForbidden
from streams.views.scope import scoped
from tests.support.clickhouse import open_clickhouse

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 2, 9, tzinfo=UTC)
STUDENT = Identity("uni", "p-s1", frozenset({Role.STUDENT}), student_id="s1")
TUTOR = Identity("uni", "p-t1", frozenset({Role.TUTOR}), staff_id="t1")
OTHER_TUTOR = Identity("uni", "p-t2", frozenset({Role.TUTOR}), staff_id="t2")
ANALYST = Identity("uni", "p-an", frozenset({Role.ANALYST}))
OPERATOR = Identity("uni", "p-op", frozenset({Role.OPERATOR}))
PRIVACY = Identity("uni", "p-dpo", frozenset({Role.PRIVACY_OFFICER}))
ELSEWHERE_TUTOR = Identity("other", "p-x", frozenset({Role.TUTOR}), staff_id="t1")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    path = tmp_path / "clickhouse"

    def connect() -> Client:
        from sinks.clickhouse import connect as open_client

        opened = open_client(f"chdb://{path}", "engage")
        migrate(opened)
        return opened

    sink = ClickHouseSink(connect)
    for student, tutor in (("s1", "t1"), ("s2", "t2")):
        sink.add(StudentsRow("uni", student, "CLES", "", "", tutor, AT, 1))
    # The same student id at another tenant, with the same staff id as its tutor.
    sink.add(StudentsRow("other", "s1", "CLES", "", "", "t1", AT, 1))
    for alert_id, tenant, student in (("a1", "uni", "s1"), ("a2", "uni", "s2"),
                                      ("b1", "other", "s1")):
        sink.add(ReviewQueueRow(alert_id, tenant, student, "t1", "inactivity", date(2026, 11, 1),
                                "{}", "pending_review", AT, AT, 1))
    sink.flush_sync()
    sink.close()
    with open_clickhouse(path) as opened:
        yield opened


def allowed(client: Client, identity: Identity, name: str, **params: Any) -> bool:
    try:
        scoped(name, params, identity, client)
    except QueryForbidden:
        return False
    return True


@pytest.mark.parametrize(("identity", "student", "expected"), [
    (STUDENT, "s1", True), (STUDENT, "s2", False), (TUTOR, "s1", True), (TUTOR, "s2", False),
    (OTHER_TUTOR, "s1", False), (TUTOR, "nobody", False), (ANALYST, "s1", False),
    (OPERATOR, "s1", False), (PRIVACY, "s1", False), (ELSEWHERE_TUTOR, "s1", True),
])
def test_explain_is_for_the_student_and_their_tutor(client: Client, identity: Identity,
                                                    student: str, expected: bool) -> None:
    assert allowed(client, identity, "explain", student=student) is expected


def test_another_tenant_named_in_the_parameters_is_refused(client: Client) -> None:
    assert not allowed(client, ELSEWHERE_TUTOR, "explain", tenant="uni", student="s1")
    assert not allowed(client, TUTOR, "explain", tenant="other", student="s1")
    assert scoped("explain", {"student": "s1"}, TUTOR, client)["tenant"] == "uni"


@pytest.mark.parametrize(("identity", "expected"), [
    (STUDENT, True), (PRIVACY, True), (TUTOR, False), (OPERATOR, False), (ANALYST, False)])
def test_the_export_is_for_the_student_and_a_privacy_officer(client: Client, identity: Identity,
                                                              expected: bool) -> None:
    assert allowed(client, identity, "export-student", student="s1") is expected


def test_a_tutors_review_list_is_of_their_own_tutees(client: Client) -> None:
    assert scoped("review-list", {}, TUTOR, client)["tutor"] == "t1"
    assert not allowed(client, TUTOR, "review-list", tutor="t2")
    assert not allowed(client, STUDENT, "review-list")
    assert not allowed(client, OPERATOR, "review-list")


@pytest.mark.parametrize(("identity", "alert_id", "expected"), [
    (TUTOR, "a1", True), (STUDENT, "a1", True), (TUTOR, "a2", False), (STUDENT, "a2", False),
    (OTHER_TUTOR, "a2", True), (TUTOR, "b1", False), (TUTOR, "no-such-alert", False),
    (ELSEWHERE_TUTOR, "b1", True), (ELSEWHERE_TUTOR, "a1", False), (PRIVACY, "a1", False),
])
def test_an_alert_is_for_its_students_tutor_and_the_student(
        client: Client, identity: Identity, alert_id: str, expected: bool) -> None:
    assert allowed(client, identity, "alert", alert_id=alert_id) is expected


def test_the_summary_is_an_operators_of_their_own_tenant(client: Client) -> None:
    assert scoped("summary", {}, OPERATOR, client) == {"tenant": "uni"}
    assert not allowed(client, TUTOR, "summary")
    assert not allowed(client, ANALYST, "summary")


def test_an_unknown_query_is_refused_to_a_person_and_the_command_line_reads_everything(
        client: Client) -> None:
    assert not allowed(client, PRIVACY, "everything")
    params = {"tenant": "other", "student": "s2"}
    assert scoped("export-student", params, LOCAL, client) == params
