"""One valid example per event type: the README's and the tests' reference events."""

from __future__ import annotations

from typing import Any

_BASE = {"tenant": "demo-university", "student_id": "s00042"}

EXAMPLES: dict[str, dict[str, Any]] = {
    "vle.click": {**_BASE, "event_id": "vle-7f3a9c21", "type": "vle.click",
                  "occurred_at": "2026-10-06T10:03:00Z", "source": "moodle",
                  "module": "BIO1001", "page": "/mod/page/view.php?id=118"},
    "app.menu_choice": {**_BASE, "event_id": "app-51c0e2", "type": "app.menu_choice",
                        "occurred_at": "2026-10-06T12:15:09+01:00", "source": "campus-app",
                        "menu_item": "timetable"},
    "attendance.swipe": {**_BASE, "event_id": "att-99812", "type": "attendance.swipe",
                         "occurred_at": "2026-10-06T09:58:41Z", "source": "card-reader",
                         "session_id": "BIO1001-2026-10-06-10", "status": "present"},
    "event.checkin": {**_BASE, "event_id": "evt-ck-311", "type": "event.checkin",
                      "occurred_at": "2026-10-07T13:05:00Z", "source": "careers",
                      "event_ref": "careers-fair-2026"},
    "event.registered": {**_BASE, "event_id": "evt-rg-311", "type": "event.registered",
                         "occurred_at": "2026-10-05T18:40:00Z", "source": "careers",
                         "event_ref": "careers-fair-2026"},
    "roster.student": {**_BASE, "event_id": "ros-2026-s00042", "type": "roster.student",
                       "occurred_at": "2026-09-20T08:00:00Z", "source": "student-records",
                       "college": "CLES", "programme": "BIO-BSc", "year_group": "1",
                       "tutor_id": "t003"},
    "consent.changed": {**_BASE, "event_id": "con-8812", "type": "consent.changed",
                        "occurred_at": "2026-09-21T17:30:00Z", "source": "consent-portal",
                        "granted": True},
    "review.decision": {**_BASE, "event_id": "dec-0012", "type": "review.decision",
                        "occurred_at": "2026-11-03T11:20:00Z", "source": "engage-cli",
                        "alert_id": "al-3b1f0c9e2d7a46c8b1e5", "decision": "contacted",
                        "tutor_id": "t003", "note": "Met in office hours; extension agreed."},
}
