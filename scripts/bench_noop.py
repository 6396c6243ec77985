"""The framework ceiling: a Faust agent on one topic that does nothing with its events."""

from __future__ import annotations

import os
import sys
import time

from streams.settings import Settings
from streams.tuning.collector import tune_garbage_collector
from streams.worker.app import FaustWorker, stream_buffer_size
from streams.worker.kafka_app import KafkaApp

bootstrap, topic_name, expected_arg, datadir = sys.argv[1:5]
expected = int(expected_arg)
# The worker's app class, batch size and stream buffer: the same consumption as the worker
# measured against it.
settings = Settings()
app = KafkaApp(f"engage-bench-noop-{os.getpid()}", broker=f"kafka://{bootstrap}",
               store="memory://", datadir=datadir, web_enabled=False,
               consumer_auto_offset_reset="earliest", topic_disable_leader=True,
               topic_partitions=6, fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
               stream_buffer_maxsize=stream_buffer_size(settings))
topic = app.topic(topic_name, key_serializer="raw", value_serializer="raw")
seen = {"count": 0, "first": 0.0, "first_batch": 0}


@app.agent(topic)
async def noop(stream):  # type: ignore[no-untyped-def]
    async for events in stream.take_events(settings.batch_max_events,
                                           within=settings.batch_within_seconds):
        if not seen["count"]:
            seen["first"] = time.perf_counter()
            seen["first_batch"] = len(events)
        seen["count"] += len(events)
        if seen["count"] >= expected:
            elapsed = time.perf_counter() - seen["first"]
            # The events taken after the first batch over the time since it was taken: the
            # first batch's events were taken before the clock started.
            rate = (seen["count"] - seen["first_batch"]) / elapsed
            # The Faust worker redirects sys.stdout into its logger: write to the fd itself.
            os.write(1, f"NOOP_EPS {rate:.1f}\n".encode())
            # Stopping the app from inside its own agent waits on that agent; just leave.
            os._exit(0)


if __name__ == "__main__":
    # The engine's own worker class and garbage collector settings: the same set-up as the
    # worker measured against it.
    tune_garbage_collector(settings.gc_young_threshold)
    FaustWorker(app, loglevel="error", quiet=True).execute_from_commandline()
