"""Printing a benchmark result: a table for people (the JSON object is the result itself)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

ROWS: tuple[tuple[str, str, str], ...] = (
    ("events", "", "events published once, read by every stream part"),
    ("pipeline_eps", "events/s", "real worker: first to last stored batch (windows, alerts on)"),
    ("pipeline_windows_per_s", "windows/s", "window revisions the worker published over the same span"),
    ("raw_consume_eps", "events/s", "confluent-kafka consume(10000) + orjson, same topic"),
    ("peer_eps", "events/s", "Quix Streams: decode, rate, 1h window, chDB batches"),
    ("ratio_vs_raw", "", "pipeline_eps / raw_consume_eps"),
    ("ratio_vs_peer", "", "pipeline_eps / peer_eps"),
    ("alert_latency_ms_p50", "ms", "crossing event published -> alert on the alerts topic"),
    ("alert_latency_ms_p99", "ms", ""),
    ("alert_samples", "", "crossings measured (alerts_missing did not arrive)"),
    ("alert_offered_eps", "events/s", "background load during the alert phase"),
    ("alert_catch_up_s", "s", "until the worker caught up with that load (latencies are measured after)"),
    ("invoice_ms_p50", "ms", "invoices(month, account), one account"),
    ("invoice_ms_p99", "ms", ""),
    ("report_ms_p50", "ms", "report(month, account), one account"),
    ("report_ms_p99", "ms", ""),
    ("invoices_all_ms_p50", "ms", "invoices(month) for every account"),
    ("invoice_merged_ms_p50", "ms", "invoices(month, account) once the month is merged"),
    ("invoice_merged_ms_p99", "ms", ""),
    ("query_rows", "rows", "rated rows in the query warehouse"),
    ("worker_peak_rss_mb", "MiB", "VmHWM of the worker process"),
    ("peer_peak_rss_mb", "MiB", "VmHWM of the peer process"),
    ("publish_eps", "events/s", "Publisher.publish_lines (validates each line, waits for every ack)"),
    ("raw_produce_eps", "events/s", "bare confluent-kafka Producer, same records and settings, no validation"),
    ("ratio_publish_vs_raw", "", "publish_eps / raw_produce_eps"),
    ("warmup_produce_eps", "events/s", "the bare producer once before publishing (warms the broker; in no ratio)"),
    ("elapsed_s", "s", "the whole benchmark"),
)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 1 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_table(result: dict[str, Any], console: Console) -> None:
    table = Table(title="make bench", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("unit")
    table.add_column("meaning")
    for key, unit, meaning in ROWS:
        text = meaning
        if key == "alert_samples" and result.get("alerts_missing"):
            text = f"crossings measured ({result['alerts_missing']} alerts did not arrive)"
        table.add_row(key, _fmt(result.get(key)), unit, text)
    console.print(table)
    m = result.get("machine") or {}
    console.print(
        f"machine: {m.get('cores')} cores ({m.get('cpu')}), {m.get('memory_gib')} GiB, "
        f"load {m.get('loadavg_at_start')}, "
        f"Python {m.get('python')}, Kafka {m.get('kafka') or '-'}, chDB {m.get('chdb')}, Faust {m.get('faust')}, "
        f"Quix Streams {m.get('quixstreams') or '-'}",
        highlight=False,
    )
    profile = result.get("profile")
    if profile:
        _print_profile(profile, console)
    spy = result.get("worker_py_spy")
    if spy and spy.get("top_self_pct"):
        table = Table(title=f"worker under py-spy ({spy['samples']} busy samples): self time", title_justify="left")
        table.add_column("function")
        table.add_column("%", justify="right")
        for name, pct in spy["top_self_pct"][:15]:
            table.add_row(name, f"{pct:.1f}")
        console.print(table)


def _print_profile(profile: dict[str, Any], console: Console) -> None:
    stages = profile.get("stages_s", {})
    total = sum(stages.values()) or 1.0
    table = Table(
        title=f"batch path: {profile['batch']:,} events, {profile['events_per_s']:,.0f}/s",
        title_justify="left",
    )
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    table.add_column("%", justify="right")
    for name, seconds in sorted(stages.items(), key=lambda kv: -kv[1]):
        table.add_row(name, f"{seconds:.3f}", f"{100 * seconds / total:.0f}")
    console.print(table)
    top = Table(title="cProfile, top self time", title_justify="left")
    top.add_column("function")
    top.add_column("calls", justify="right")
    top.add_column("self s", justify="right")
    top.add_column("cum s", justify="right")
    for row in profile.get("top_tottime", [])[:15]:
        top.add_row(row["function"], f"{row['calls']:,}", f"{row['tottime_s']:.3f}", f"{row['cumtime_s']:.3f}")
    console.print(top)
