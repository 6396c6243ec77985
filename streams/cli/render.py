"""Readable renderings of the read views for the terminal."""

from __future__ import annotations

from datetime import date
from typing import Any

from scoring.scores import WINDOW_DAYS, score_7d


def _coefficient_text(coefficients: dict[str, float]) -> str:
    return (", ".join(f"{k} {v:g}" for k, v in coefficients.items())
            or "none (no roster college or no coefficient set)")


def _coefficient_lines(view: dict[str, Any]) -> list[str]:
    """One line when the whole window used one set; else the dates each set applied to."""
    runs: list[tuple[str, str, dict[str, float]]] = []
    for day in view["days"]:
        coefficients = day.get("coefficients", view["coefficients"])
        if runs and runs[-1][2] == coefficients:
            runs[-1] = (runs[-1][0], day["date"], coefficients)
        else:
            runs.append((day["date"], day["date"], coefficients))
    if len(runs) <= 1:
        return ["Coefficients: " + _coefficient_text(view["coefficients"])]
    lines = ["Coefficients (the set in force each day):"]
    for first, last, coefficients in runs:
        dates = first if first == last else f"{first} to {last}"
        lines.append(f"  {dates}: {_coefficient_text(coefficients)}")
    return lines


def render_explain(view: dict[str, Any]) -> str:
    lines = [
        f"Student {view['student_id']} ({view['tenant']}), college {view['college'] or '?'}, "
        f"consent: {view['consent']}",
        f"7-day engagement score on {view['date']}: {view['score_7d']:.2f} "
        f"(band: {view['band']})",
        "",
        *_coefficient_lines(view),
        "",
        f"{'date':<12}{'VLE min':>9}{'app':>6}{'events':>8}{'no-module':>11}  daily score",
    ]
    for day in view["days"]:
        coefficients = day.get("coefficients", view["coefficients"])
        c_min = coefficients.get("ele_minutes", 0.0)
        c_app = coefficients.get("app_choices", 0.0)
        c_evt = coefficients.get("event_checkins", 0.0)
        arithmetic = (f"{c_min:g} x {day['ele_minutes']:.2f} + {c_app:g} x {day['app_choices']} + "
                      f"{c_evt:g} x {day['event_checkins']} = {day['daily_score']:.3f}")
        lines.append(
            f"{day['date']:<12}{day['ele_minutes']:>9.2f}{day['app_choices']:>6}"
            f"{day['event_checkins']:>8}{day['no_module_minutes']:>11.2f}  {arithmetic}"
        )
        modules = ", ".join(f"{m} {v:.2f}" for m, v in day["ele_minutes_by_module"].items())
        if modules:
            lines.append(f"{'':<12}  by module: {modules}")
    last = date.fromisoformat(view["days"][-1]["date"])
    mean = score_7d({date.fromisoformat(d["date"]): d["daily_score"] for d in view["days"]}, last)
    terms = " + ".join(f"{day['daily_score']:.3f}" for day in view["days"])
    lines += [
        "",
        f"score_7d = ({terms}) / {WINDOW_DAYS} = {mean:.2f}",
        "Minutes without a module are shown but not scored. Scores are conversation aids, "
        "not assessment.",
    ]
    return "\n".join(lines)


EXPORT_SECTIONS = {
    "roster": "Who you are (roster)",
    "consent": "Your consent decisions",
    "activity": "Engagement activity (VLE, app, events)",
    "measures": "Daily measures",
    "scores": "Daily and 7-day scores",
    "alerts": "Alerts raised for your tutor's review",
    "decisions": "Tutors' decisions about those alerts",
    "attendance": "Attendance marks",
    "privacy_audit": "Deletions made on your behalf",
    "dead_letters": "Messages sent about you that the engine could not read",
}


def render_export(held: dict[str, Any]) -> str:
    lines = [f"Everything held about student {held['student_id']} ({held['tenant']})", ""]
    for key, title in EXPORT_SECTIONS.items():
        rows = held.get(key, [])
        lines.append(f"{title}: {len(rows)} record(s)")
        for row in rows:
            lines.append("  " + ", ".join(f"{k}={v}" for k, v in row.items()))
        lines.append("")
    return "\n".join(lines)


def render_review_list(alerts: list[dict[str, Any]]) -> str:
    if not alerts:
        return "No alerts match."
    lines = [f"{'alert':<24}{'student':<12}{'tutor':<10}{'rule':<17}{'day':<12}status"]
    for alert in alerts:
        lines.append(f"{alert['alert_id']:<24}{alert['student_id']:<12}{alert['tutor_id']:<10}"
                     f"{alert['rule']:<17}{alert['day']:<12}{alert['status']}")
        evidence = ", ".join(f"{k}={v}" for k, v in alert["evidence"].items())
        lines.append(f"{'':<24}evidence: {evidence}")
    return "\n".join(lines)
