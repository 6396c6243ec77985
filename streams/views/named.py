"""Read views assembled from `sinks.queries` and the tenant configuration.

The same functions answer the CLI directly and, while a worker holds the embedded engine,
through the worker's `/v1/query/<name>` route.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from scoring.config import TenantConfig
from scoring.scores import WINDOW_DAYS, band_for, coefficients_for, score_7d
from sinks import queries
from sinks.writer import ClickHouseSink
from streams.access import Identity
from streams.errors import QueryRefused
from streams.settings import Settings
from streams.views.scope import scoped


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        # Every stored instant is UTC; some engine builds return it without the zone.
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _tenant(settings: Settings, name: str) -> TenantConfig:
    try:
        return settings.tenants[name]
    except KeyError as exc:
        raise QueryRefused(f"unknown tenant {name!r}") from exc


def consent_status(config: TenantConfig, history: list[dict[str, Any]]) -> str:
    if not history:
        return "notice (processed until opt-out)" if config.consent_mode == "notice" else \
            "not given (opt-in required)"
    latest = max(history, key=lambda row: row["occurred_at"])
    return "granted" if latest["granted"] else "withdrawn"


def explain(client: Client, settings: Settings, tenant: str, student_id: str, day: date
            ) -> dict[str, Any]:
    config = _tenant(settings, tenant)
    measures, scores = queries.daily_rows(client, tenant, student_id,
                                          day - timedelta(days=WINDOW_DAYS - 1), day)
    return build_explanation(
        config, tenant, student_id, day,
        measures=measures,
        scores=scores,
        profile=queries.student_profile(client, tenant, student_id),
        consent_history=queries.consent_history(client, tenant, student_id),
    )


def build_explanation(config: TenantConfig, tenant: str, student_id: str, day: date, *,
                      measures: list[dict[str, Any]], scores: list[dict[str, Any]],
                      profile: dict[str, Any] | None, consent_history: list[dict[str, Any]]
                      ) -> dict[str, Any]:
    """The transparency view of `day` from stored rows, without I/O.

    Each of the seven days carries the coefficients in force that day (the set whose
    `valid_from` had been reached, for the college its stored score row names, else the
    roster's current college), so a day's products add up to its stored daily score even
    when the window crosses into a new academic year.
    """
    college = profile["college"] if profile else None
    by_day_measures = {row["day"]: row for row in measures}
    by_day_scores = {row["day"]: row for row in scores}
    days = []
    daily_by_day: dict[date, float] = {}
    for back in range(WINDOW_DAYS - 1, -1, -1):
        current = day - timedelta(days=back)
        m = by_day_measures.get(current, {})
        s = by_day_scores.get(current, {})
        day_college = s.get("college") or college
        days.append({
            "date": current.isoformat(),
            "ele_minutes": m.get("ele_minutes", 0.0),
            "ele_minutes_by_module": dict(m.get("minutes_by_module", {})),
            "no_module_minutes": m.get("no_module_minutes", 0.0),
            "app_choices": m.get("app_choices", 0),
            "event_checkins": m.get("event_checkins", 0),
            "coefficients": {str(k): v for k, v in
                             coefficients_for(config, day_college, current).items()},
            "daily_score": s.get("daily_score", 0.0),
        })
        daily_by_day[current] = s.get("daily_score", 0.0)
    mean = score_7d(daily_by_day, day)
    stored = by_day_scores.get(day)
    return {
        "tenant": tenant,
        "student_id": student_id,
        "date": day.isoformat(),
        "college": college,
        "consent": consent_status(config, consent_history),
        # The set in force on `day` itself; each day carries its own under "coefficients".
        "coefficients": dict(days[-1]["coefficients"]),
        "days": days,
        "score_7d": stored["score_7d"] if stored else mean,
        "band": stored["band"] if stored else band_for(config.bands, mean),
    }


SUMMARY_TABLES = ("activity", "daily_measures", "daily_scores", "attendance", "students",
                  "consent_log", "review_queue", "review_decisions", "dead_letters")


def summary(client: Client, settings: Settings, tenant: str | None = None) -> dict[str, Any]:
    return {"rows": queries.table_counts(client, SUMMARY_TABLES, tenant)}


def export_student(client: Client, settings: Settings, tenant: str, student_id: str
                   ) -> dict[str, Any]:
    _tenant(settings, tenant)
    held = queries.everything_about(client, tenant, student_id)
    for alert in held["alerts"]:
        alert["evidence"] = json.loads(alert["evidence"]) if alert["evidence"] else {}
    return {"tenant": tenant, "student_id": student_id, **held}


def review_list(client: Client, settings: Settings, tenant: str, tutor: str | None,
                status: str | None) -> list[dict[str, Any]]:
    _tenant(settings, tenant)
    alerts = queries.review_list(client, tenant, tutor, status)
    for alert in alerts:
        alert["evidence"] = json.loads(alert["evidence"]) if alert["evidence"] else {}
    return alerts


def _param(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if not value:
        raise QueryRefused(f"missing parameter {name!r}")
    return str(value)


def _day(params: dict[str, Any]) -> date:
    try:
        return date.fromisoformat(_param(params, "date"))
    except ValueError as exc:
        raise QueryRefused("date must be YYYY-MM-DD") from exc


NAMED: dict[str, Callable[[Client, Settings, dict[str, Any]], Any]] = {
    "explain": lambda c, s, p: explain(c, s, _param(p, "tenant"), _param(p, "student"), _day(p)),
    "summary": lambda c, s, p: summary(c, s, p.get("tenant")),
    "review-list": lambda c, s, p: review_list(c, s, _param(p, "tenant"), p.get("tutor"),
                                               p.get("status")),
    "alert": lambda c, s, p: queries.alerts_by_id(c, [_param(p, "alert_id")]),
    "export-student": lambda c, s, p: export_student(c, s, _param(p, "tenant"),
                                                     _param(p, "student")),
}


def run_named(name: str, client: Client, settings: Settings, params: dict[str, Any]) -> Any:
    try:
        reader = NAMED[name]
    except KeyError as exc:
        raise QueryRefused(f"unknown query {name!r}; known: {', '.join(sorted(NAMED))}") from exc
    return jsonable(reader(client, settings, params))


class NamedViews:
    """The named queries, run on a sink's ClickHouse thread (as the engine answers them)."""

    def __init__(self, sink: ClickHouseSink, settings: Settings) -> None:
        self._sink = sink
        self._settings = settings

    async def answer(self, name: str, params: dict[str, Any], identity: Identity) -> Any:
        def read(client: Client) -> Any:
            return run_named(name, client, self._settings, scoped(name, params, identity, client))

        return await self._sink.run(read)
