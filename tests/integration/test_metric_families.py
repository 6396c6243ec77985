"""Every metric family the README lists moves when its event happens, on one real worker.

The README's table under "### Metrics" is the list this test works from: each family in it
needs a check in STEPS below ("listed in README has no scenario" otherwise), and each `engage_`
family the live worker or notifier exposes needs a row in it. One worker is started, with the
launcher of `tests.support.flaky_clickhouse_worker` (the product's own code, except that
ClickHouse refuses inserts while the test holds an outage file: only the last steps do), and
one notifier beside it, which digests the alert the worker raises to a local webhook. Each step
sends real traffic, then /metrics is scraped until every sample it names has moved from where
it was before the step (a counter or a histogram's count risen, a gauge at its value), or the
step times out saying which sample did not move.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from schemas.topics import ATTENDANCE, VLE_CLICKS
from scoring.days import last_completed_day
from scoring.timebase import LocalCalendar, to_ms
from streams.cli.produce import route
from tests.conftest import TEST_TENANTS
from tests.support.broker import ROOT, free_port
from tests.support.events import event
from tests.support.flaky_clickhouse_worker import FlakyClickHouseWorker
from tests.support.raw_kafka import RawMessage, partition_for, produce_raw
from tests.support.worker import EngineEnv

pytestmark = pytest.mark.integration

README = ROOT / "README.md"
TABLE_HEADER = "| metric | labels | meaning |"
PREFIX = "engage_"

# Settings the steps' event times are built around, given to the worker explicitly.
LATENESS_SECONDS = 60
RULES_SETTLE_SECONDS = 3600
# Not the default (see Settings.gc_young_threshold): the gauge must show the one in force. Low
# enough that young collections happen in both processes within the test.
GC_YOUNG_THRESHOLD = 700
TOPIC_PARTITIONS = 6

STEP_TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.2

Labels = frozenset[tuple[str, str]]
WireEvent = dict[str, Any]


# -- the README's table --------------------------------------------------------------------------
def readme_families(text: str) -> dict[str, frozenset[str]]:
    """The families of the metrics table in the README's "### Metrics" section, with the
    label names each row lists; a row naming two families (`a` / `b`) gives both."""
    assert "\n### Metrics\n" in text, "the README has no ### Metrics section"
    section = re.split(r"\n#{1,3} ", text.split("\n### Metrics\n", 1)[1], maxsplit=1)[0]
    lines = section.splitlines()
    assert TABLE_HEADER in lines, f"no {TABLE_HEADER!r} table under ### Metrics"
    start = lines.index(TABLE_HEADER) + 2
    families: dict[str, frozenset[str]] = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        names = re.findall(r"`([a-zA-Z_:][a-zA-Z0-9_:]*)`", cells[0])
        assert names, f"a README metrics row names no metric: {line}"
        labels = frozenset(name.strip() for name in cells[1].split(",") if name.strip())
        for name in names:
            assert name not in families, f"{name} is listed twice in the README"
            families[name] = labels
    assert families, "the README's metrics table has no rows"
    return families


# -- an exposition --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Exposition:
    samples: dict[tuple[str, Labels], float] = field(default_factory=dict)
    # By the name the README uses (a counter's with `_total`): its type and label names.
    families: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict)

    def merged(self, other: Exposition) -> Exposition:
        return Exposition({**self.samples, **other.samples}, {**self.families, **other.families})

    def value(self, sample: str, labels: Mapping[str, str]) -> float | None:
        return self.samples.get((sample, frozenset(labels.items())))


def parse(text: str) -> Exposition:
    exposition = Exposition()
    families = list(text_string_to_metric_families(text))
    # prometheus_client's `x_created` series of a counter or histogram `x` (its creation
    # time) parse as a family of their own; they are part of `x`.
    created = {f"{f.name}_created" for f in families if f.type in ("counter", "histogram")}
    for family in families:
        name = family.name
        if name in created:
            continue
        if family.type == "counter" and not name.endswith("_total"):
            name += "_total"
        label_names = frozenset(k for s in family.samples for k in s.labels if k != "le")
        exposition.families[name] = (family.type, label_names)
        for sample in family.samples:
            exposition.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return exposition


def sample_name(family: str, exposition: Exposition) -> str:
    """The sample a check reads: a histogram's count, else the family's own."""
    kind = exposition.families.get(family, ("", frozenset()))[0]
    return f"{family}_count" if kind == "histogram" else family


def shown(family: str, labels: Mapping[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{family}{{{inner}}}"


# -- checks ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rises:
    """A counter (or a histogram's count) rises, by at least `by` (0: by anything, for
    seconds); by exactly `by` when `exactly`, for counts the step's traffic fixes."""

    family: str
    labels: Mapping[str, str] = field(default_factory=dict)
    by: float = 1
    exactly: bool = False

    def _values(self, before: Exposition, after: Exposition) -> tuple[float, float | None]:
        name = sample_name(self.family, after)
        return before.value(name, self.labels) or 0.0, after.value(name, self.labels)

    def holds(self, before: Exposition, after: Exposition) -> bool:
        was, now = self._values(before, after)
        return now is not None and now > was and now - was >= self.by

    def overshot(self, before: Exposition, after: Exposition) -> bool:
        was, now = self._values(before, after)
        return self.exactly and now is not None and now - was > self.by

    def describe(self, before: Exposition, after: Exposition) -> str:
        was, now = self._values(before, after)
        wanted = (f"to rise by {'exactly' if self.exactly else 'at least'} {self.by:g}"
                  if self.by else "to rise")
        if now is None:
            return f"{shown(self.family, self.labels)} absent (expected {wanted})"
        return (f"{shown(self.family, self.labels)} went {was:g} -> {now:g} "
                f"(expected {wanted})")


@dataclass(frozen=True)
class Equals:
    """A gauge shows `value`."""

    family: str
    labels: Mapping[str, str] = field(default_factory=dict)
    value: float = 0

    def holds(self, before: Exposition, after: Exposition) -> bool:
        return after.value(sample_name(self.family, after), self.labels) == self.value

    def overshot(self, before: Exposition, after: Exposition) -> bool:
        return False

    def describe(self, before: Exposition, after: Exposition) -> str:
        now = after.value(sample_name(self.family, after), self.labels)
        return (f"{shown(self.family, self.labels)} is "
                f"{'absent' if now is None else f'{now:g}'} (expected {self.value:g})")


Check = Rises | Equals


# -- the run --------------------------------------------------------------------------------------
class Webhook:
    """A local HTTP server taking the notifier's digests: the first attempt is refused (503),
    so a delivery fails once and is retried, and later ones are taken (204)."""

    def __init__(self) -> None:
        self.attempts = 0
        self.digests: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.attempts += 1
                if hook.attempts == 1:
                    self.send_response(503)
                else:
                    hook.digests.append(json.loads(body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/digest"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Run:
    env: EngineEnv
    worker: FlakyClickHouseWorker
    notifier: subprocess.Popen[bytes]
    notifier_port: int
    notifier_log: Path
    webhook: Webhook

    def scrape(self) -> Exposition:
        status, body = self.worker.get("/metrics")
        assert status == 200, body
        exposition = parse(body.decode())
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.notifier_port}/metrics", timeout=10) as response:
                return exposition.merged(parse(response.read().decode()))
        except (urllib.error.URLError, ConnectionError):
            return exposition  # the notifier is not serving yet

    def produce(self, items: list[WireEvent | tuple[str, bytes, bytes]]) -> None:
        """Send events as `engage produce` does (topic and key from the event); a
        (topic, key, value) item goes as it is, bytes the product would refuse to send."""
        messages = []
        for item in items:
            if isinstance(item, tuple):
                topic, key, value = item
            else:
                value = json.dumps(item).encode()
                routed = route(value)
                assert routed is not None, item
                topic, key = routed
            messages.append(RawMessage(topic, key, value))
        asyncio.run(produce_raw(self.env.bootstrap, messages))

    def logs(self) -> str:
        return (f"--- worker log ---\n{self.worker.log()}\n--- notifier log ---\n"
                f"{self.notifier_log.read_text(errors='replace')[-3000:]}")


@dataclass(frozen=True)
class Step:
    name: str
    act: Callable[[Run], None]
    checks: tuple[Check, ...]
    # From the scrape taken once the worker was ready, instead of the one before the step:
    # for what moves on its own over the whole run, or is driven by an earlier step.
    since_start: bool = False


# -- the traffic ----------------------------------------------------------------------------------
CALENDAR = LocalCalendar(str(TEST_TENANTS["tenants"]["uni-test"]["timezone"]))
M1_KEY = b"uni-test:m1"


@dataclass(frozen=True)
class Timeline:
    """Event times, all in the past: `day` (09:00 UTC six days ago) holds a click session;
    the alert step's click, a day later, moves event time past the end of `day`."""

    day: datetime

    @classmethod
    def now(cls) -> Timeline:
        return cls((datetime.now(tz=UTC) - timedelta(days=6)).replace(
            hour=9, minute=0, second=0, microsecond=0))

    def session(self) -> list[WireEvent]:
        return [event("vle.click", "m1", self.day + timedelta(minutes=k), module="BIO1001",
                      event_id=f"m1-click-{k}") for k in range(5)]

    def late_click(self) -> WireEvent:
        """Older than the lateness bound allows once the session is in."""
        at = self.day - timedelta(minutes=30)
        newest = self.day + timedelta(minutes=4)
        assert at < newest - timedelta(seconds=LATENESS_SECONDS)
        return event("vle.click", "m1", at, module="BIO1001")

    def judged_through(self, newest: datetime) -> float:
        """The gauge once every partition is idle: event time is the newest event's."""
        day = last_completed_day(CALENDAR, to_ms(newest), RULES_SETTLE_SECONDS * 1000)
        return CALENDAR.end_ms(day) / 1000


T = Timeline.now()


def post_session(run: Run) -> None:
    roster = event("roster.student", "m1", T.day - timedelta(hours=1), college="CLES",
                   tutor_id="t-ada")
    status, body = run.worker.post("/v1/events", json.dumps([roster, *T.session()]).encode(),
                                   {"Content-Type": "application/json"})
    assert status == 200, body
    assert {r["status"] for r in body["results"]} == {"accepted"}, body


def send_invalid(run: Run) -> None:
    broken = event("vle.click", "m1", T.day, module="BIO1001")
    del broken["event_id"]
    run.produce([broken])


def send_duplicate(run: Run) -> None:
    run.produce([T.session()[-1]])


def send_late(run: Run) -> None:
    run.produce([T.late_click()])


def send_without_consent(run: Run) -> None:
    # optin-test is an opt-in tenant: nothing of o1's is processed before a grant.
    run.produce([event("vle.click", "o1", T.day, tenant="optin-test", module="BIO1001")])


def send_roster_with_extra_fields(run: Run) -> None:
    run.produce([event("roster.student", "r1", T.day - timedelta(hours=1), college="CLES",
                       ethnicity="not for storing", shoe_size="42")])


def send_absences(run: Run) -> None:
    """Three sessions missed in a row; judged only once event time passes another day end
    (the next step), so that the rules see all three whichever batch each lands in."""
    run.produce([
        event("roster.student", "absentee", T.day - timedelta(days=5), college="CLES",
              tutor_id="t-ada"),
        *(event("attendance.swipe", "absentee", T.day - timedelta(days=back, hours=-1),
                session_id=f"BIO-{back}", status="absent") for back in (4, 3, 2)),
    ])


NEXT_DAY = T.day + timedelta(days=1)


def send_next_day(run: Run) -> None:
    run.produce([event("vle.click", "m1", NEXT_DAY, module="BIO1001")])


def begin_outage_and_send(run: Run) -> None:
    run.worker.begin_outage()
    run.produce([event("vle.click", "m1", NEXT_DAY + timedelta(minutes=5), module="BIO1001")])


def end_outage(run: Run) -> None:
    run.worker.end_outage()


def nothing(run: Run) -> None:
    pass


CLICKS = {"topic": VLE_CLICKS, "type": "vle.click"}

STEPS: tuple[Step, ...] = (
    Step("a VLE click session through the HTTP gateway", post_session, (
        Rises("engage_gateway_requests_total", {"endpoint": "/v1/events", "status": "200"},
              exactly=True),
        Rises("engage_events_consumed_total", CLICKS, by=5, exactly=True),
        Rises("engage_sink_rows_written_total", {"table": "activity"}, by=5, exactly=True),
        Rises("engage_sink_flush_seconds", {"table": "activity"}),
        Rises("engage_event_to_sink_seconds", by=6),
        Rises("engage_batch_events"),
        Rises("engage_scores_published_total"),
        Equals("engage_students_in_state", value=1),
        Equals("engage_rules_judged_through_seconds", {"tenant": "uni-test"},
               T.judged_through(T.day + timedelta(minutes=4))),
    )),
    Step("an event breaking the schema", send_invalid, (
        Rises("engage_events_dead_lettered_total", {"reason": "schema_violation"},
              exactly=True),
        Rises("engage_sink_rows_written_total", {"table": "dead_letters"}, exactly=True),
    )),
    Step("an event id delivered again", send_duplicate, (
        Rises("engage_events_duplicate_total", exactly=True),
    )),
    Step("a click beyond the lateness bound", send_late, (
        Rises("engage_events_late_total", {"tenant": "uni-test"}, exactly=True),
    )),
    Step("activity of an opt-in tenant's student who never consented", send_without_consent, (
        Rises("engage_events_without_consent_total", {"tenant": "optin-test"}, exactly=True),
    )),
    Step("a roster event with fields outside the allow-list", send_roster_with_extra_fields, (
        Rises("engage_roster_fields_dropped_total", {"reason": "special_category"},
              exactly=True),
        Rises("engage_roster_fields_dropped_total", {"reason": "not_allowed"}, exactly=True),
    )),
    Step("three absences in a row", send_absences, (
        Rises("engage_events_consumed_total", {"topic": ATTENDANCE, "type": "attendance.swipe"},
              by=3, exactly=True),
    )),
    Step("a day later: the rules judge the absences", send_next_day, (
        Rises("engage_alerts_raised_total", {"rule": "attendance"}, exactly=True),
        Equals("engage_rules_judged_through_seconds", {"tenant": "uni-test"},
               T.judged_through(NEXT_DAY)),
        Equals("engage_rules_judged_through_seconds", {"tenant": "optin-test"},
               T.judged_through(NEXT_DAY)),
    )),
    Step("the notifier digests the alert to its tutor's webhook", nothing, (
        Rises("engage_notifier_alerts_consumed_total", exactly=True),
        Rises("engage_notifier_delivery_failures_total", {"channel": "webhook"}, exactly=True),
        Rises("engage_notifier_digests_sent_total", {"channel": "webhook"}, exactly=True),
    ), since_start=True),
    Step("ClickHouse refuses writes", begin_outage_and_send, (
        Rises("engage_sink_errors_total", {"table": "activity", "kind": "retryable"}),
    )),
    Step("ClickHouse takes writes again", end_outage, (
        Rises("engage_events_consumed_total", CLICKS, exactly=True),
        Rises("engage_sink_rows_written_total", {"table": "activity"}, exactly=True),
    )),
    Step("over the whole run", nothing, (
        *(Rises("engage_heap_trims_total", {"process": process, "allocator": allocator})
          for process, allocator in (("faust", "glibc"), ("engine", "glibc"),
                                     ("engine", "clickhouse"))),
        *(Rises(family, {"process": process, "generation": "0"}, by=by)
          for family, by in (("engage_gc_collections_total", 1), ("engage_gc_seconds_total", 0))
          for process in ("faust", "engine")),
        *(Equals("engage_gc_young_threshold", {"process": process}, GC_YOUNG_THRESHOLD)
          for process in ("faust", "engine")),
        Equals("engage_consumer_lag",
               {"topic": VLE_CLICKS, "partition": str(partition_for(M1_KEY, TOPIC_PARTITIONS))},
               0),
        # A real stall (Faust fetching nothing while messages wait) cannot be brought about
        # from outside; a worker that keeps up shows 0 (and /healthz says ok, checked below).
        Equals("engage_consumer_stalled", value=0),
        Equals("engage_students_in_state", value=4),  # m1, o1, r1, absentee
    ), since_start=True),
)


def families_without_a_scenario(documented: Mapping[str, frozenset[str]]) -> list[str]:
    checked = {check.family for step in STEPS for check in step.checks}
    return sorted(set(documented) - checked)


def test_every_readme_family_has_a_scenario() -> None:
    documented = readme_families(README.read_text(encoding="utf-8"))
    missing = families_without_a_scenario(documented)
    assert not missing, "\n".join(f"family {name} listed in README has no scenario"
                                  for name in missing)
    checked = {check.family for step in STEPS for check in step.checks}
    assert checked <= set(documented), (
        f"families checked here but not in the README: {sorted(checked - set(documented))}")


# -- the live test --------------------------------------------------------------------------------
def wait_for(run: Run, step: Step, before: Exposition) -> Exposition:
    deadline = time.monotonic() + STEP_TIMEOUT_SECONDS
    while True:
        after = run.scrape()
        overshot = [c for c in step.checks if c.overshot(before, after)]
        pending = [c for c in step.checks if not c.holds(before, after)]
        if overshot or (pending and time.monotonic() > deadline):
            lines = [f"step {step.name!r}:"] + [f"  {c.describe(before, after)}"
                                                for c in overshot + pending]
            raise AssertionError("\n".join(lines) + "\n" + run.logs())
        if not pending:
            return after
        time.sleep(POLL_SECONDS)


@pytest.fixture
def run(engine_env: EngineEnv, tmp_path: Path) -> Iterator[Run]:
    webhook = Webhook()
    tenants = json.loads(json.dumps(TEST_TENANTS))
    tenants["tenants"]["uni-test"]["notify"] = {"webhook_url": webhook.url,
                                                "digest_seconds": 1.0}
    engine_env.tenant_config = tmp_path / "tenants-notified.yaml"
    engine_env.tenant_config.write_text(yaml.safe_dump(tenants))
    engine_env.extra.update(
        ENGAGE_LATENESS_SECONDS=str(LATENESS_SECONDS),
        ENGAGE_RULES_SETTLE_SECONDS=str(RULES_SETTLE_SECONDS),
        ENGAGE_GC_YOUNG_THRESHOLD=str(GC_YOUNG_THRESHOLD),
        ENGAGE_TOPIC_PARTITIONS=str(TOPIC_PARTITIONS),
        # Retried within a second of ClickHouse coming back.
        ENGAGE_SINK_RETRY_MAX_SECONDS="1",
    )
    worker = FlakyClickHouseWorker(engine_env, tmp_path / "clickhouse-refuses-writes")
    notifier_port = free_port()
    notifier_log = tmp_path / "notifier.log"
    notifier: subprocess.Popen[bytes] | None = None
    try:
        worker.start()
        with notifier_log.open("wb") as log:
            notifier = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "notify"], cwd=ROOT,
                env={**engine_env.env(), "ENGAGE_NOTIFY_WEB_PORT": str(notifier_port)},
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        yield Run(engine_env, worker, notifier, notifier_port, notifier_log, webhook)
    finally:
        if notifier is not None and notifier.poll() is None:
            os.killpg(notifier.pid, signal.SIGTERM)
            try:
                notifier.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(notifier.pid, signal.SIGKILL)
                notifier.wait(timeout=10)
        worker.end_outage()
        worker.stop()
        webhook.stop()


def test_every_readme_family_moves_when_its_event_happens(run: Run) -> None:
    documented = readme_families(README.read_text(encoding="utf-8"))
    missing = families_without_a_scenario(documented)
    assert not missing, "\n".join(f"family {name} listed in README has no scenario"
                                  for name in missing)

    at_start = run.scrape()
    for step in STEPS:
        before = at_start if step.since_start else run.scrape()
        step.act(run)
        wait_for(run, step, before)
    assert run.worker.get("/healthz")[0] == 200, run.logs()
    digested = [(a["student_id"], a["rule"]) for d in run.webhook.digests for a in d["alerts"]]
    assert digested == [("absentee", "attendance")], digested

    exposed = run.scrape().families
    undocumented = sorted(name for name in exposed
                          if name.startswith(PREFIX) and name not in documented)
    assert not undocumented, "\n".join(f"family {name} is exposed but not in the README"
                                       for name in undocumented)
    wrong_labels = [f"{name}: README lists {sorted(labels)}, exposed with "
                    f"{sorted(exposed[name][1])}"
                    for name, labels in documented.items()
                    if name in exposed and exposed[name][1] != labels]
    assert not wrong_labels, "\n".join(wrong_labels)
