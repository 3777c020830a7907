"""Print the warehouse's own counts as JSON (run by the fault suite in a subprocess, with the
scenario's environment, once no worker holds the chDB path), and the windows invariant
(tests/fixtures/windows.py): every window's highest revision equals its stored events, and, when
USAGEFLOW_PROBE_WINDOWS_TOPIC names a file of the windows topic's latest records, that the
topic agrees with the warehouse."""

from __future__ import annotations

import json
import os
import sys
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout: for tests.fixtures

from tests.fixtures.windows import published_rows, topic_mismatches, window_check
from usageflow.warehouse import open_warehouse


def main() -> None:
    wh = open_warehouse(os.environ["USAGEFLOW_WAREHOUSE"])
    try:
        raw = wh.query("SELECT count() AS rows, uniqExact(account_id, event_id) AS distinct_ids FROM rated_events")[0]
        final = wh.query(
            "SELECT count() AS n, sum(toUInt64(input_tokens) + output_tokens) AS tokens FROM rated_events FINAL"
        )[0]
        windows = wh.query(
            "SELECT granularity, sum(requests) AS requests, sum(total_tokens) AS tokens "
            "FROM usage_windows GROUP BY granularity"
        )
        alerts = wh.query("SELECT DISTINCT account_id, type, period, toString(level) AS level FROM alerts FINAL")
        alert_rows = wh.query("SELECT count() AS n FROM alerts")[0]["n"]
        window_invariant = window_check(wh)
        topic_file = os.environ.get("USAGEFLOW_PROBE_WINDOWS_TOPIC")
        if topic_file:
            latest = json.loads(Path(topic_file).read_text())
            window_invariant["topic_records"] = len(latest)
            window_invariant["topic_mismatches"] = topic_mismatches(latest, published_rows(wh))
    finally:
        wh.close()
    print(
        json.dumps(
            {
                "rows": int(raw["rows"]),
                "distinct_ids": int(raw["distinct_ids"]),
                "final_rows": int(final["n"]),
                "final_tokens": int(final["tokens"] or 0),
                "windows": {w["granularity"]: [int(w["requests"]), int(w["tokens"])] for w in windows},
                "alert_keys": [
                    [a["account_id"], a["type"], a["period"], format(Decimal(a["level"]).normalize(), "f")]
                    for a in alerts
                ],
                "alert_rows": int(alert_rows),
                "window_invariant": window_invariant,
            },
            default=str,
        )
    )


if __name__ == "__main__":
    main()
