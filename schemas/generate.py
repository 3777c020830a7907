"""Write the JSON Schema of every record next to this file (`make schemas`); a test checks they
are current, so producers in any language can validate against the checked-in files."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from usageflow.schemas import Account, Alert, DeadLetter, UsageEvent, WindowAggregate

HERE = Path(__file__).resolve().parent
RECORDS: dict[str, type[BaseModel]] = {
    "usage_event.v1.schema.json": UsageEvent,
    "account.schema.json": Account,
    "alert.v1.schema.json": Alert,
    "dead_letter.schema.json": DeadLetter,
    "window_aggregate.v1.schema.json": WindowAggregate,
}


def render(model: type[BaseModel]) -> str:
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    for name, model in RECORDS.items():
        (HERE / name).write_text(render(model), encoding="utf-8")
        print(f"wrote schemas/{name}")


if __name__ == "__main__":
    main()
