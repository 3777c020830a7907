"""One batch of the events topic, from raw records to stored, alerted and ready to commit.

`BatchPipeline.process` is the only place that sequences a batch; the Faust agent, the
confluent-kafka reader and the benchmark's profile part all call it. Its steps, in order:

0. after a partition assignment: forget the live state, read back the alerts topic (recording
   any alert the warehouse misses) so no alert is sent twice;
1. decode, validate and rate every record (bad ones become dead letters with a reason);
2. restore the live alert state from the warehouse if needed (and the prepaid-credit grants
   when due), and seed the batch's accounts *before* the batch is stored, so a seed never
   includes it;
3. dedupe against the warehouse: only events it does not hold yet are `fresh`;
4. run the alert rules over the fresh events;
5. publish dead letters and alerts and wait for the broker's acknowledgements: an alert is on
   the topic before its events are stored, so a crash can never leave stored events unalerted
   (a re-read batch is then found stored, and its alerts are read back in step 0);
6. insert the fresh events; rows the warehouse refuses as data (not an outage) are found by
   splitting the batch, dead-lettered with the engine's message, and the rest is stored;
7. record the alerts in the warehouse `alerts` table;
8. windows (usageflow.streams.window_step): the stored events move their 1m / 1h / 1d windows;
   windows whose end passed their partition's event time, or that changed since their last
   revision, are published on the windows topic (acknowledged) and stored in
   `window_aggregates`, and open windows are recorded as open (at most every few seconds). After a crash
   the batch is read again and the windows of its already stored events are checked against the
   warehouse, so a lost revision is published then;
9. hand back the offsets to commit (the caller commits them: only after all of the above).

`after_step` (optional) is called with each step's name as it finishes (`sync_published`,
`decode_validate_rate`, `restore_live_state`, `dedupe`, `alert_rules`, `publish`, `insert`,
`record_alerts`, and inside step 8 `windows_published` between the windows topic and the
warehouse, then `windows`): the fault tests raise there to stop a worker between two steps.

Warehouse calls go through one `RetryPolicy`: outages are waited out, shutdown interrupts the
wait with `StopRequested` (the batch is then not committed and is read again on restart).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from usageflow.alerting.engine import LiveEngine
from usageflow.alerting.rules import AlertKey, alert_key
from usageflow.bus.dead_letters import dead_letter_headers, dead_letter_key, dead_letter_value
from usageflow.config import KafkaSettings
from usageflow.errors import UsageflowError, WarehouseError
from usageflow.ingest.batch import BatchOutcome, RawRecord, next_offsets, process_batch
from usageflow.pricing.price_book import PriceBook
from usageflow.schemas import Account, Alert
from usageflow.streams.credit_feed import CreditFeed
from usageflow.streams.heap import collector_paused, settle_heap
from usageflow.streams.live_store import alert_bytes, published_alerts, record_published, seed_accounts, store_alerts
from usageflow.streams.outbox import KafkaOutbox, OutgoingRecord
from usageflow.streams.retry import RetryPolicy
from usageflow.streams.sink import WarehouseSink
from usageflow.streams.window_step import WindowStep
from usageflow.warehouse import Warehouse

log = logging.getLogger(__name__)
WAREHOUSE_REJECTED = "warehouse_rejected"


@dataclass(frozen=True, slots=True)
class Topics:
    alerts: str
    dlq: str
    windows: str | None = None  # None: no windows step (step 8 is skipped)


@dataclass
class BatchReport:
    """What one batch did: counts, the alerts it fired, the offsets to commit, and seconds per step."""

    records: int = 0
    rated: int = 0
    stored: int = 0
    duplicates: int = 0
    late: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)  # reason -> records
    alerts: list[Alert] = field(default_factory=list)
    windows: int = 0  # window revisions published
    next_offsets: dict[int, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    finished_at: float = 0.0

    @property
    def dead_lettered(self) -> int:
        return sum(self.dead_letters.values())

    @property
    def store_seconds(self) -> float:
        """Dedupe query through the alert records: what storing this batch took."""
        s = self.seconds
        return sum(s.get(k, 0.0) for k in ("dedupe", "alert_rules", "publish", "insert", "record_alerts"))


StepHook = Callable[[str], None]


def _no_hook(_step: str) -> None:
    return None


class _Stopwatch:
    def __init__(self, report: BatchReport, after_step: StepHook) -> None:
        self.report = report
        self.after_step = after_step
        self.last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.report.seconds[step] = self.report.seconds.get(step, 0.0) + now - self.last
        self.last = now
        self.after_step(step)


class BatchPipeline:
    def __init__(
        self,
        warehouse: Warehouse,
        lookup_account: Callable[[str], Account | None],
        book: PriceBook,
        engine: LiveEngine,
        outbox: KafkaOutbox,
        topics: Topics,
        kafka: KafkaSettings,
        stop: threading.Event,
        after_step: StepHook = _no_hook,
        open_row_interval_s: float = 0.0,
    ) -> None:
        """`open_row_interval_s`: how often an open window's row is rewritten at most (0: with
        every batch that changes it; see usageflow.streams.window_step)."""
        self.warehouse = warehouse
        self.lookup_account = lookup_account
        self.book = book
        self.engine = engine
        self.outbox = outbox
        self.topics = topics
        self.kafka = kafka
        self.retry = RetryPolicy(stop)
        self.sink = WarehouseSink(warehouse)
        self.credit_feed = CreditFeed(warehouse)
        self.after_step = after_step
        self.windows = (
            WindowStep(warehouse, outbox, topics.windows, self.retry, after_step, open_row_interval_s)
            if topics.windows
            else None
        )
        self._reassigned = True  # the first batch restores everything

    def partitions_changed(self) -> None:
        """Called by the reader when partitions were assigned or revoked."""
        self._reassigned = True

    def use_price_book(self, book: PriceBook) -> None:
        """Rate the next batches with `book`. Call between batches (on the pipeline's thread);
        the live alert state is restored from the warehouse with the next batch, so month
        costs re-priced in the warehouse are what the budget rule sees."""
        self.book = book
        self.engine.book = book
        self._reassigned = True

    def between_batches(self) -> None:
        """A poll brought no records: rewrite the open windows' rows that fell due (never right
        after an assignment: the windows held may belong to another worker now)."""
        if self.windows is not None and not self._reassigned:
            self.windows.write_due_open_rows()

    def stopping(self) -> None:
        """The worker stops after its last batch: leave every open window's row current. A
        failure is only logged: a restart re-aggregates open windows from the stored events."""
        if self.windows is None or self._reassigned:
            return
        try:
            written = self.windows.write_behind_open_rows()
        except UsageflowError as exc:
            log.warning("open window rows not brought up to date at shutdown: %s", exc)
            return
        if written:
            log.info("brought %d open window row(s) up to date at shutdown", written)

    def process(self, records: Sequence[RawRecord]) -> BatchReport:
        """Steps 0–9 of the module docstring, with the cyclic collector paused for the batch
        (usageflow.streams.heap)."""
        with collector_paused():
            return self._process(records)

    def _process(self, records: Sequence[RawRecord]) -> BatchReport:
        report = BatchReport(records=len(records), next_offsets=next_offsets(records))
        clock = _Stopwatch(report, self.after_step)
        # 0. after an assignment: alerts already published are never sent again
        if self._reassigned:
            self.engine.reset()
            if self.windows is not None:
                self.windows.reset()  # restored from the warehouse by step 8
            self.engine.mark_fired(self.retry.call("reading back published alerts", self._sync_published))
            self._reassigned = False
            clock.lap("sync_published")
        # 1. decode, validate, rate
        outcome = process_batch(records, self.lookup_account, self.book)
        outgoing = [self._dead_letter(r.record, r.reason, r.message, report) for r in outcome.rejected]
        report.rated = len(outcome.rated)
        clock.lap("decode_validate_rate")
        # 2. live state restored, the batch's accounts seeded before the batch is stored
        if not self.engine.restored:
            self.engine.restore(self.retry.call("restoring the live state", lambda: seed_accounts(self.warehouse)))
            settle_heap()
        self.credit_feed.refresh(self.engine, self.retry.call)
        now = datetime.now(UTC)
        caught_up = self.engine.activate({r.event.account_id for r in outcome.rated}, self.lookup_account, now)
        clock.lap("restore_live_state")
        # 3. dedupe against the warehouse
        fresh = self.retry.call("the dedupe query", lambda: self.sink.fresh(outcome.rated))
        report.duplicates = len(outcome.rated) - len(fresh) + outcome.duplicates_in_batch
        clock.lap("dedupe")
        # 4. alert rules over the fresh events
        live = self.engine.process(
            [(outcome.sources[i].partition, outcome.rated[i]) for i in fresh], self.lookup_account, now
        )
        report.alerts = caught_up + live.alerts
        report.late = live.late
        clock.lap("alert_rules")
        # 5. dead letters and alerts acknowledged by the broker
        outgoing += [OutgoingRecord(self.topics.alerts, a.account_id.encode(), alert_bytes(a)) for a in report.alerts]
        self.outbox.send_and_wait(outgoing)
        clock.lap("publish")
        # 6. insert; rows refused as data are dead-lettered, the rest stored
        refused, table = self._insert(outcome, fresh)
        report.stored = len(fresh) - len(refused)
        if refused:
            self.outbox.send_and_wait(
                [self._dead_letter(outcome.sources[i], WAREHOUSE_REJECTED, why, report) for i, why in refused]
            )
        clock.lap("insert")
        # 7. alerts recorded in the warehouse
        if report.alerts:
            self.retry.call("recording alerts", lambda: store_alerts(self.warehouse, report.alerts))
        clock.lap("record_alerts")
        # 8. windows: published (acknowledged) and stored after the events they count
        if self.windows is not None:
            report.windows = self.windows.run(outcome, fresh, [i for i, _ in refused], table)
        clock.lap("windows")
        # 9. the caller commits report.next_offsets
        report.finished_at = time.time()
        return report

    def _insert(self, outcome: BatchOutcome, fresh: list[int]) -> tuple[list[tuple[int, str]], pa.Table | None]:
        """Store the fresh events; (index, engine message) of each one the warehouse refused, and
        the Arrow table of the fresh events (None when Arrow refused a value in it: the insert
        then finds that row alone)."""
        rows = [outcome.rated[i] for i in fresh]
        try:
            table = self.sink.table(rows) if rows else None
        except WarehouseError:
            table = None
        return self.sink.insert_finding_refused(rows, fresh, self.retry.call, table), table

    def _dead_letter(self, record: RawRecord, reason: str, message: str, report: BatchReport) -> OutgoingRecord:
        report.dead_letters[reason] = report.dead_letters.get(reason, 0) + 1
        key = dead_letter_key(record.key)
        value = dead_letter_value(reason, message, record.value, record.topic, record.partition, record.offset, key)
        return OutgoingRecord(self.topics.dlq, key, value, tuple(dead_letter_headers(reason)))

    def _sync_published(self) -> list[AlertKey]:
        """The alerts topic's keys; published alerts the warehouse misses are stored now (a worker
        died between the broker's acknowledgement and its own insert)."""
        alerts = published_alerts(self.kafka, self.topics.alerts)
        missing = record_published(self.warehouse, alerts)
        if missing:
            log.warning("%d published alert(s) were missing from the warehouse alerts table: stored", missing)
        return [alert_key(a) for a in alerts]
