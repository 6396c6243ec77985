"""Kafka topic names and which event type travels on which topic."""

from __future__ import annotations

VLE_CLICKS = "engage.vle.clicks"
APP_MENU = "engage.app.menu"
ATTENDANCE = "engage.attendance"
EVENTS = "engage.events"
ROSTER = "engage.roster"
CONSENT = "engage.consent"
REVIEW_DECISIONS = "engage.review.decisions"
SCORES = "engage.scores"
REVIEW_ALERTS = "engage.review.alerts"
DEADLETTER = "engage.deadletter"

INPUT_TOPICS = (VLE_CLICKS, APP_MENU, ATTENDANCE, EVENTS, ROSTER, CONSENT, REVIEW_DECISIONS)
OUTPUT_TOPICS = (SCORES, REVIEW_ALERTS, DEADLETTER)

TOPIC_FOR_TYPE = {
    "vle.click": VLE_CLICKS,
    "app.menu_choice": APP_MENU,
    "attendance.swipe": ATTENDANCE,
    "event.checkin": EVENTS,
    "event.registered": EVENTS,
    "roster.student": ROSTER,
    "consent.changed": CONSENT,
    "review.decision": REVIEW_DECISIONS,
}
