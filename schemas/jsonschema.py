"""Writing the wire contract as JSON Schema files, one per event type."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.events import EVENT_ADAPTER, EVENT_MODELS


def write_json_schemas(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for event_type, model in sorted(EVENT_MODELS.items()):
        path = out_dir / f"{event_type}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n")
        written.append(path)
    union = out_dir / "event.schema.json"
    union.write_text(json.dumps(EVENT_ADAPTER.json_schema(), indent=2, sort_keys=True) + "\n")
    written.append(union)
    return written
