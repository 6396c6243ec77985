"""The activity row each engagement event becomes: what a student's explanation shows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from schemas.decode import EVENT_ADAPTER
from schemas.examples import EXAMPLES
from scoring.timebase import from_ms, to_ms
from sinks.rows import activity_row
from sinks.writer import COLUMNS

RECEIVED = datetime(2026, 10, 8, tzinfo=UTC)


def _row(event_type: str, **changes: object) -> dict[str, Any]:
    event = EVENT_ADAPTER.validate_python({**EXAMPLES[event_type], **changes})
    row = activity_row(event, to_ms(event.occurred_at), date(2026, 10, 6), to_ms(RECEIVED), 7)
    return dict(zip(COLUMNS["activity"], row, strict=True))


@pytest.mark.parametrize(("event_type", "detail"), [
    ("vle.click", "/mod/page/view.php?id=118"),
    ("app.menu_choice", "timetable"),
    ("event.checkin", "careers-fair-2026"),
    ("event.registered", "careers-fair-2026"),
])
def test_the_detail_is_the_page_menu_item_or_event_of_the_type(event_type: str, detail: str
                                                                ) -> None:
    row = _row(event_type)
    assert row["detail"] == detail
    assert row["type"] == event_type
    assert row["module"] == ("BIO1001" if event_type == "vle.click" else None)


def test_a_click_without_a_page_has_an_empty_detail_and_keeps_its_module() -> None:
    row = _row("vle.click", page=None)
    assert row["detail"] == ""
    assert row["module"] == "BIO1001"
    assert row["source"] == "moodle"


def test_times_are_milliseconds_since_1970_in_utc() -> None:
    row = _row("app.menu_choice")  # sent with a +01:00 offset
    assert from_ms(row["occurred_at"]) == datetime(2026, 10, 6, 11, 15, 9, tzinfo=UTC)
    assert from_ms(row["received_at"]) == RECEIVED
