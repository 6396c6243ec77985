"""Who is asking, as the engine sees it: a person signed in through their institution's
provider (see `streams.web.identity`), or the local command line on the worker's own machine.

The command line proves it is local with a token the worker writes into its data folder at
start, readable by the worker's own user only: whoever can read it can read the embedded
ClickHouse folder beside it, which is what the command line does when no worker runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from scoring.config import Role

LOCAL_TOKEN_FILE = "local-access.token"


@dataclass(frozen=True, slots=True)
class Identity:
    tenant: str
    person: str
    roles: frozenset[Role]
    student_id: str | None = None
    staff_id: str | None = None
    # The local command line: every tenant, every read (see the module's doc).
    local: bool = False

    def has(self, role: Role) -> bool:
        return role in self.roles


LOCAL = Identity(tenant="", person="local command line", roles=frozenset(Role), local=True)


def write_local_token(data_dir: Path, token: str) -> None:
    """This run of the worker's token, written for its own user only."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCAL_TOKEN_FILE
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(token)


def read_local_token(data_dir: Path) -> str | None:
    try:
        return (data_dir / LOCAL_TOKEN_FILE).read_text().strip() or None
    except OSError:
        return None
