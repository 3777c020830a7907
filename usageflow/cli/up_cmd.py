"""`usageflow up`: the whole system on one machine, with a live view. Ctrl-C stops everything."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import orjson
import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table

from usageflow.cli.context import CliContext
from usageflow.cli.output import console
from usageflow.demo.generator import BAD_LINES, StreamShape, generate_events
from usageflow.pricing.price_book import load_price_book

DEMO_ACCOUNTS = files("usageflow.demo") / "accounts.yaml"


class DemoPublisher(threading.Thread):
    """Back-fills the month so far, then publishes live events (with a few bad ones)."""

    def __init__(self, ctx: CliContext, backfill: int, rate: float) -> None:
        super().__init__(name="demo-publisher", daemon=True)
        from usageflow.bus.producer import Publisher

        self.publisher = Publisher(ctx.kafka(), ctx.topics())
        self.backfill, self.rate = backfill, rate
        self.published = self.rejected = 0
        self.stop_event = threading.Event()
        self.run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")  # live event ids are new every run

    def _send(self, lines: list[bytes]) -> None:
        report = self.publisher.publish_lines(lines, "demo")
        self.published += report.published
        self.rejected += report.rejected

    def run(self) -> None:
        now = datetime.now(UTC)
        month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        shape = StreamShape(start=month_start, span=now - month_start, mean_tokens=2500)
        batch: list[bytes] = []
        for event in generate_events(self.backfill, shape, seed=int(month_start.timestamp())):
            batch.append(orjson.dumps(event))
            if len(batch) >= 2000:
                self._send(batch)
                batch = []
            if self.stop_event.is_set():
                return
        self._send(batch)
        n = 0
        while not self.stop_event.wait(1.0):
            live_shape = StreamShape(
                start=datetime.now(UTC) - timedelta(seconds=1),
                span=timedelta(seconds=1),
                mean_tokens=2500,
            )
            lines = [orjson.dumps(e) for e in generate_events(int(self.rate), live_shape, seed=n + 10_000)]
            lines = [line.replace(b'"evt-', f'"live-{self.run_id}-{n}-'.encode()) for line in lines]
            if n % 10 == 0:
                lines.append(BAD_LINES[n // 10 % len(BAD_LINES)])
            self._send(lines)
            n += 1


def _get(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - local worker
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


def _view(pub: DemoPublisher, progress: Any, invoices: Any, month: str) -> Group:
    stats = Table(title="usageflow — live", title_justify="left")
    counters = ("consumed", "stored", "duplicates", "dead_lettered", "alerts", "events_per_s")
    for col in ("published", "rejected at publish", *counters):
        stats.add_column(col.replace("_", " "), justify="right")
    p = progress or {}
    stats.add_row(str(pub.published), str(pub.rejected), *(str(p.get(k, "…")) for k in counters))
    recent = Table(title="Latest alerts", title_justify="left")
    for col in ("triggered_at", "account", "type", "period", "level", "value / limit"):
        recent.add_column(col)
    for a in p.get("recent_alerts", [])[:6]:
        recent.add_row(
            a["triggered_at"][:19],
            a["account_id"],
            a["type"],
            a["period"],
            str(a["level"]),
            f"{a['value']} / {a['limit']}",
        )
    inv = Table(title=f"Invoices {month} (CNY)", title_justify="left")
    for col in ("account", "plan", "tokens", "billable", "total"):
        inv.add_column(col, justify="left" if col in ("account", "plan") else "right")
    for i in invoices or []:
        inv.add_row(i["account_id"], i["plan"], f"{i['tokens']:,}", f"{i['billable_tokens']:,}", i["total"])
    return Group(stats, recent, inv, "[dim]Ctrl-C stops the demo (worker and the broker it started).[/dim]")


def up_cmd(
    typer_ctx: typer.Context,
    rate: Annotated[float, typer.Option(help="Live events per second.")] = 200.0,
    backfill: Annotated[int, typer.Option(help="Events back-filled over the month so far.")] = 20_000,
) -> None:
    """The demo: local broker if none is configured, migrations, sample accounts and events, the worker."""
    ctx: CliContext = typer_ctx.obj
    broker = _start_local_broker_if_needed(ctx)
    worker: subprocess.Popen[bytes] | None = None
    publisher: DemoPublisher | None = None
    try:
        _load_demo_accounts(ctx)
        worker, log_path = _spawn_worker(ctx)
        publisher = DemoPublisher(ctx, backfill, rate)
        publisher.start()
        _live_view(ctx, worker, log_path, publisher)
    except KeyboardInterrupt:
        console.print("stopping…")
    finally:
        _shutdown(publisher, worker, broker)
    console.print("stopped: worker" + (" and the local broker" if broker else ""))


def broker_configured(ctx: CliContext) -> bool:
    """Whether a bootstrap was given: --bootstrap, USAGEFLOW_KAFKA_BOOTSTRAP, or that line in .env."""
    return ctx.bootstrap is not None or "bootstrap" in ctx.kafka().model_fields_set


def _start_local_broker_if_needed(ctx: CliContext) -> Any:
    from usageflow.broker.local import LocalKafka

    if broker_configured(ctx):
        return None
    paths = ctx.paths()
    local = LocalKafka(data_dir=paths.data_dir, cache_dir=paths.cache_dir, port=9092)
    if local.status().running:
        return None
    with console.status("starting the local Kafka broker (the first start downloads its jars)…"):
        local.start()
    return local


def _load_demo_accounts(ctx: CliContext) -> None:
    from usageflow.bus.admin import ensure_topics
    from usageflow.bus.producer import Publisher
    from usageflow.cli.pipeline_cmd import read_accounts

    kafka, topics = ctx.kafka(), ctx.topics()
    ensure_topics(kafka, topics)
    publisher = Publisher(kafka, topics)
    for account in read_accounts(DEMO_ACCOUNTS):
        publisher.publish_account(account.account_id, orjson.dumps(account.model_dump(mode="json")))
    publisher.flush()


def _spawn_worker(ctx: CliContext) -> tuple[subprocess.Popen[bytes], Path]:
    """The worker runs in its own session so Ctrl-C reaches only us; we stop it with SIGTERM."""
    args = [sys.executable, "-m", "usageflow", "--bootstrap", ctx.kafka().bootstrap, "--warehouse", ctx.warehouse_url()]
    if ctx.topic_prefix is not None:
        args += ["--topic-prefix", ctx.topic_prefix]
    if ctx.data_dir is not None:
        args += ["--data-dir", str(ctx.data_dir)]
    if ctx.price_book is not None:
        args += ["--price-book", str(ctx.price_book)]
    paths = ctx.paths()
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    log_path = paths.data_dir / "worker.log"
    with log_path.open("ab") as log:
        worker = subprocess.Popen(
            [*args, "worker", "--loglevel", "INFO"], stdout=log, stderr=log, start_new_session=True
        )
    return worker, log_path


def _live_view(ctx: CliContext, worker: subprocess.Popen[bytes], log_path: Path, publisher: DemoPublisher) -> None:
    stream = ctx.stream()
    base = f"http://{stream.http_host}:{stream.http_port}"
    month = datetime.now(ZoneInfo(load_price_book(ctx.paths().price_book).billing_timezone)).strftime("%Y-%m")
    invoices: Any = None
    with Live(_view(publisher, None, None, month), console=console, refresh_per_second=2) as live:
        tick = 0
        while True:
            if worker.poll() is not None:
                raise typer.Exit(_worker_died(log_path))
            progress = _get(f"{base}/status")
            if tick % 3 == 0:
                invoices = _get(f"{base}/api/invoices?month={month}") or invoices
            live.update(_view(publisher, progress, invoices, month))
            time.sleep(1.0)
            tick += 1


def _shutdown(publisher: DemoPublisher | None, worker: subprocess.Popen[bytes] | None, broker: Any) -> None:
    if publisher is not None:
        publisher.stop_event.set()
        publisher.join(timeout=10)
    if worker is not None and worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    if broker is not None:
        broker.stop()


def _worker_died(log_path: Path) -> int:
    tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
    console.print("[red]the worker stopped unexpectedly:[/red]\n" + "\n".join(tail), highlight=False)
    return 1


def register(app: typer.Typer) -> None:
    app.command("up")(up_cmd)
