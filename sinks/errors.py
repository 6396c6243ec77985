"""ClickHouse sink errors, split by what the caller should do about them."""


class SinkError(Exception):
    """Base of the sink errors."""


class SinkUnavailable(SinkError):
    """The server or engine cannot take writes right now: retry with backoff, commit nothing."""


class ClickHouseFolderLocked(SinkError):
    """Another process holds the embedded ClickHouse data folder (a running worker)."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"the embedded ClickHouse folder {path} is in use by another process, usually a "
            "running worker; ask the worker (the command does this itself when it can reach the "
            "worker's web port) or stop it first"
        )
        self.path = path
