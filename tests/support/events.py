"""Building wire events for tests."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from typing import Any

_ids = itertools.count(1)


def event(kind: str, student: str, at: datetime, tenant: str = "uni-test", **fields: Any
          ) -> dict[str, Any]:
    return {
        "event_id": fields.pop("event_id", f"ev-{next(_ids):08d}"),
        "type": kind,
        "tenant": tenant,
        "student_id": student,
        "occurred_at": at.isoformat(),
        **fields,
    }


def jsonl(events: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(e) + "\n" for e in events)
