"""Print the warehouse's own counts as JSON (run by the fault suite in a subprocess, with the
scenario's environment, once no worker holds the chDB path)."""

from __future__ import annotations

import json
import os
from decimal import Decimal

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
            }
        )
    )


if __name__ == "__main__":
    main()
