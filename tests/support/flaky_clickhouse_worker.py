"""The real `engage worker`, except that ClickHouse refuses every insert while a control file
exists: an outage a test can start and end from outside the process.

Run as `python -m tests.support.flaky_clickhouse_worker worker --loglevel info` with the
engine's environment plus OUTAGE_FILE_VARIABLE. Only the client the worker's sink opens is
wrapped; everything else, from Kafka to the commit of offsets, is the product's own code.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from tests.support.worker import EngineEnv, WorkerProcess

OUTAGE_FILE_VARIABLE = "ENGAGE_TEST_CLICKHOUSE_OUTAGE_FILE"
MODULE = "tests.support.flaky_clickhouse_worker"


class InsertsRefusedDuringOutage:
    """A ClickHouse client whose inserts fail, as a server that is down, while `outage_file`
    exists. Reads still work: the sink only retries writes, and an outage that also failed
    reads would test the read paths' error handling instead."""

    def __init__(self, client: Any, outage_file: Path) -> None:
        self._client = client
        self._outage_file = outage_file

    def insert(self, *args: Any, **kwargs: Any) -> Any:
        if self._outage_file.exists():
            from clickhouse_connect.driver.exceptions import OperationalError

            raise OperationalError("connection refused")
        return self._client.insert(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def refuse_inserts_during_outage(outage_file: Path) -> None:
    """Make the worker's sink connect through `InsertsRefusedDuringOutage`. The worker starts
    its engine process with the command it was started with, this launcher's, so the engine
    process, which holds the sink, is wrapped too."""
    import streams.engine.sink

    # `open_sink` calls the `connect` that streams.engine.sink imported. Should that name go, this
    # fails here; should `open_sink` stop using it, the test sees no sink errors and fails.
    real_connect = streams.engine.sink.connect

    def connect(*args: Any, **kwargs: Any) -> InsertsRefusedDuringOutage:
        return InsertsRefusedDuringOutage(real_connect(*args, **kwargs), outage_file)

    streams.engine.sink.connect = connect  # type: ignore[assignment]


def main(argv: list[str]) -> int:
    from streams.cli.commands import main as engage

    outage_file = Path(os.environ[OUTAGE_FILE_VARIABLE])
    refuse_inserts_during_outage(outage_file)
    print(f"ClickHouse inserts refused while {outage_file} exists", file=sys.stderr)
    return engage(argv)


class FlakyClickHouseWorker(WorkerProcess):
    """The worker subprocess under this launcher, with the outage switched from the test."""

    entry_module = MODULE

    def __init__(self, env: EngineEnv, outage_file: Path) -> None:
        super().__init__(env)
        self.outage_file = outage_file
        env.extra[OUTAGE_FILE_VARIABLE] = str(outage_file)

    def begin_outage(self) -> None:
        self.outage_file.touch()

    def end_outage(self) -> None:
        self.outage_file.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
