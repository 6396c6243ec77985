"""`engage`: the engine's command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from streams.errors import EngageError
from streams.settings import Settings

Command = Callable[[argparse.Namespace, Settings], int]


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text}") from exc


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from streams.topics import ensure_topics
    from streams.tuning.collector import (
        GarbageCollectorMetrics,
        GarbageCollectorTime,
        tune_garbage_collector,
    )
    from streams.worker.app import FaustWorker, StreamWorker

    asyncio.run(ensure_topics(settings))
    worker = StreamWorker(settings, loglevel=args.loglevel)
    tune_garbage_collector(settings.gc_young_threshold)
    collections = GarbageCollectorTime()
    GarbageCollectorMetrics(worker.registry, {"faust": collections.snapshot,
                                              "engine": lambda: worker.engine_gc})
    FaustWorker(worker.app, loglevel=args.loglevel, quiet=True).execute_from_commandline()
    return 0


def cmd_engine(args: argparse.Namespace, settings: Settings) -> int:
    from streams.engine.server import die_with_parent, serve_engine

    die_with_parent(args.parent_pid)
    logging.getLogger().setLevel(args.loglevel.upper())
    return asyncio.run(serve_engine(settings, args.channel_fd, args.changelog_topic))


def cmd_init_db(args: argparse.Namespace, settings: Settings) -> int:
    from sinks.clickhouse import apply_retention, connect, migrate
    from streams.engine.sink import retention_of

    client = connect(settings.clickhouse_url, settings.clickhouse_database,
                     user=settings.clickhouse_user,
                     password=(settings.clickhouse_password.get_secret_value()
                               if settings.clickhouse_password else None))
    applied = migrate(client)
    apply_retention(client, retention_of(settings))
    print(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")
    print(f"database: {settings.clickhouse_database} at {settings.clickhouse_url}")
    return 0


def cmd_produce(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.produce import produce_file

    report = asyncio.run(produce_file(settings, args.events))
    print(json.dumps(report))
    return 0 if report["unroutable"] == 0 else 1


def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.produce import generate

    report = asyncio.run(generate(settings, args.students, args.days, args.seed, args.out,
                                  to_kafka=args.kafka, progress=not args.quiet))
    print(json.dumps(report))
    return 0


def cmd_backfill(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.history import backfill_file
    from streams.tuning.collector import tune_garbage_collector

    tune_garbage_collector(settings.gc_young_threshold)
    report = backfill_file(settings, args.events, progress=not args.quiet)
    print(json.dumps(report))
    return 0


def cmd_recompute(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.history import recompute

    report = recompute(settings, args.tenant, args.from_date,
                       worker_state=not args.no_worker_state)
    print(json.dumps(report))
    return 0


def cmd_explain(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.read import read_query
    from streams.cli.render import render_explain

    result = read_query(settings, "explain", {"tenant": args.tenant, "student": args.student,
                                              "date": args.date.isoformat()})
    print(json.dumps(result, indent=2) if args.json else render_explain(result))
    return 0


def cmd_export_student(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.read import read_query
    from streams.cli.render import render_export

    result = read_query(settings, "export-student", {"tenant": args.tenant,
                                                     "student": args.student})
    print(json.dumps(result, indent=2) if args.json else render_export(result))
    return 0


def cmd_review_list(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.read import read_query
    from streams.cli.render import render_review_list

    params = {"tenant": args.tenant}
    if args.tutor:
        params["tutor"] = args.tutor
    if args.status:
        params["status"] = args.status
    alerts = read_query(settings, "review-list", params)
    print(json.dumps(alerts, indent=2) if args.json else render_review_list(alerts))
    return 0


def cmd_review_decide(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.produce import publish_decision

    event = asyncio.run(publish_decision(settings, args.alert_id, args.decision, args.note,
                                         args.tutor))
    print(json.dumps(event))
    return 0


def cmd_notify(args: argparse.Namespace, settings: Settings) -> int:
    from streams.notify.service import run_notifier

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_notifier(settings))
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.read import read_query

    print(json.dumps(read_query(settings, "summary", {}), indent=2))
    return 0


def cmd_schema(args: argparse.Namespace, settings: Settings) -> int:
    from schemas.jsonschema import write_json_schemas

    for path in write_json_schemas(args.out):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="engage",
        description="Real-time learner engagement engine: Kafka in, scores and alerts for "
        "human review out, ClickHouse for dashboards and explanations.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Command, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    worker = add("worker", cmd_worker, "run the stream worker (Faust) with its web server")
    worker.add_argument("--loglevel", default="warning")
    # Started by `engage worker` itself, with its end of the channel: not for direct use.
    engine = commands.add_parser("engine")
    engine.set_defaults(handler=cmd_engine)
    engine.add_argument("--channel-fd", type=int, required=True)
    engine.add_argument("--parent-pid", type=int, required=True)
    engine.add_argument("--changelog-topic", required=True)
    engine.add_argument("--loglevel", default="warning")
    add("init-db", cmd_init_db, "apply ClickHouse migrations and retention (idempotent)")
    produce = add("produce", cmd_produce, "send a JSON-lines file of events to their topics")
    produce.add_argument("--events", type=Path, required=True)
    generate = add("generate", cmd_generate, "generate a synthetic institution's events")
    generate.add_argument("--students", type=int, default=200)
    generate.add_argument("--days", type=int, default=28)
    generate.add_argument("--seed", type=int, default=7)
    target = generate.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path)
    target.add_argument("--kafka", action="store_true")
    generate.add_argument("--quiet", action="store_true", help="no progress bar")
    backfill = add("backfill", cmd_backfill,
                   "score a JSON-lines file of events into ClickHouse without Kafka")
    backfill.add_argument("--events", type=Path, required=True)
    backfill.add_argument("--quiet", action="store_true", help="no progress bar")
    recompute = add("recompute", cmd_recompute,
                    "recompute measures and scores from stored activity (e.g. new coefficients)")
    recompute.add_argument("--tenant", required=True)
    recompute.add_argument("--from", dest="from_date", type=_date, required=True)
    recompute.add_argument("--no-worker-state", action="store_true",
                           help="leave the workers' state alone: no worker has ever run against "
                                "this store (history imported with backfill only)")
    explain = add("explain", cmd_explain, "show how a student's score was computed")
    explain.add_argument("--tenant", required=True)
    explain.add_argument("--student", required=True)
    explain.add_argument("--date", type=_date, required=True)
    explain.add_argument("--json", action="store_true")
    review = commands.add_parser("review", help="the tutor review queue",
                                 description="the tutor review queue")
    review_commands = review.add_subparsers(dest="review_command", required=True,
                                            metavar="ACTION")
    listing = review_commands.add_parser("list", help="alerts waiting for (or given) review")
    listing.set_defaults(handler=cmd_review_list)
    listing.add_argument("--tenant", required=True)
    listing.add_argument("--tutor")
    listing.add_argument("--status", choices=["pending_review", "acknowledged", "contacted",
                                              "referred", "dismissed"])
    listing.add_argument("--json", action="store_true")
    decide = review_commands.add_parser("decide", help="record a tutor's decision on an alert")
    decide.set_defaults(handler=cmd_review_decide)
    decide.add_argument("alert_id")
    decide.add_argument("--decision", required=True,
                        choices=["acknowledged", "contacted", "referred", "dismissed"])
    decide.add_argument("--note")
    decide.add_argument("--tutor", help="the deciding tutor (default: the alert's tutor)")
    add("notify", cmd_notify, "send tutors batched digests of review alerts "
        "(webhook and/or email); never students")
    export = add("export-student", cmd_export_student,
                 "subject access: everything held about one student")
    export.add_argument("--tenant", required=True)
    export.add_argument("--student", required=True)
    export.add_argument("--json", action="store_true")
    add("status", cmd_status, "row counts of the engine's tables")
    schema = add("schema", cmd_schema, "write a JSON Schema per event type")
    schema.add_argument("--out", type=Path, required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings()
        handler: Command = args.handler
        return handler(args, settings)
    except (EngageError, OSError) as exc:
        print(f"engage {args.command}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from sinks.errors import SinkError

        if isinstance(exc, SinkError):
            print(f"engage {args.command}: {exc}", file=sys.stderr)
            return 2
        raise


def run() -> Any:
    sys.exit(main())


if __name__ == "__main__":
    run()
