"""Running a read query here, or through the worker when it holds the embedded engine."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from sinks.clickhouse import connect
from sinks.errors import ClickHouseFolderLocked
from streams.access import read_local_token
from streams.errors import EngageError, QueryRefused
from streams.settings import Settings
from streams.views import named as readers


class WorkerUnreachable(EngageError):
    pass


def read_query(settings: Settings, name: str, params: dict[str, str]) -> Any:
    try:
        client = connect(
            settings.clickhouse_url, settings.clickhouse_database,
            user=settings.clickhouse_user,
            password=(settings.clickhouse_password.get_secret_value()
                      if settings.clickhouse_password else None),
        )
    except ClickHouseFolderLocked as locked:
        return ask_worker(settings, name, params, locked)
    try:
        return readers.run_named(name, client, settings, params)
    except QueryRefused as exc:
        raise EngageError(str(exc)) from exc
    finally:
        client.close()


def _credentials(settings: Settings) -> str:
    """A person's bearer token from ENGAGE_TOKEN, or else the worker's local token (the
    command line on the worker's machine, as the worker's user: see `streams.access`)."""
    if settings.token is not None:
        return f"Bearer {settings.token.get_secret_value()}"
    local = read_local_token(settings.data_dir)
    if local is None:
        raise EngageError(
            f"the worker holds the ClickHouse folder and answers reads only to a signed-in "
            f"person: set ENGAGE_TOKEN to a token from your institution's sign-in, or run as "
            f"the worker's user (its token in {settings.data_dir} cannot be read)")
    return f"Local {local}"


def ask_worker(settings: Settings, name: str, params: dict[str, str], locked: Exception) -> Any:
    query = urllib.parse.urlencode(params)
    url = f"http://{settings.web_host}:{settings.web_port}/v1/query/{name}?{query}"
    request = urllib.request.Request(url, headers={"Authorization": _credentials(settings)})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("error", exc.reason)
        raise EngageError(f"the worker answered {exc.code}: {detail}") from exc
    except OSError as exc:
        raise WorkerUnreachable(
            f"{locked}; the worker's web port {settings.web_port} did not answer ({exc})"
        ) from exc
