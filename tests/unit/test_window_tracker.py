"""The window tracker over a simulated stream, with crashes, redelivery and duplicates, against
the oracle (tests/oracle/windows.py).

The harness plays the pipeline around the tracker: a batch's events are deduplicated against an
in-memory "warehouse" (stored events and window rows, ReplacingMergeTree rules: the highest
revision, on a tie the row written last), inserted, then the windows step runs (restore, apply,
load what the tracker asks for, publish revisions to a list standing for the topic, write rows).
A crash can cut a batch before the insert, after it, after publishing or after writing the rows;
the tracker's memory is then lost and the batch is delivered again, as Kafka does with
uncommitted offsets. The warehouse answers every question from the oracle's own aggregation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.oracle import windows as ref
from usageflow.pricing.price_book import load_price_book
from usageflow.pricing.rating import RatedEvent, rate_event
from usageflow.schemas import Account
from usageflow.schemas.decode import decode_event
from usageflow.windows.records import WindowRow
from usageflow.windows.slots import WindowKey
from usageflow.windows.totals import Frozen
from usageflow.windows.tracker import Held, Outgoing, Snapshot, WindowTracker

pytestmark = pytest.mark.unit

BOOK = load_price_book(None)
ACCOUNTS = {
    "a1": Account(account_id="a1", plan="starter", timezone="America/Los_Angeles"),
    "a2": Account(account_id="a2", plan="standard", timezone="Asia/Kolkata"),
    "a3": Account(account_id="a3", plan="payg"),
}
PARTITION = {"a1": 0, "a2": 1, "a3": 0}
START = datetime(2026, 10, 31, 20, tzinfo=UTC)  # the Los Angeles clocks go back within the span
CRASH_POINTS = ("before_insert", "after_insert", "after_publish", "after_rows")


class Crash(Exception):
    pass


def key_of(slot: ref.Slot) -> WindowKey:
    return WindowKey(slot.account_id, slot.api_key_id, slot.model, slot.granularity, slot.start_ms, slot.zone)  # type: ignore[arg-type]


def frac(totals: Frozen) -> tuple[object, ...]:
    return (*totals[:6], Fraction(totals.list_cost))


def sums_tuple(s: ref.Sums) -> tuple[object, ...]:
    return (
        s.requests,
        s.input_tokens,
        s.output_tokens,
        s.cached_input_tokens,
        s.cache_write_tokens,
        s.reasoning_tokens,
        s.list_cost,
    )


def to_frozen(s: ref.Sums) -> Frozen:
    cost = Decimal(s.list_cost.numerator) / Decimal(s.list_cost.denominator)
    assert Fraction(cost) == s.list_cost
    return Frozen(*sums_tuple(s)[:6], cost)  # type: ignore[arg-type]


@dataclass
class World:
    stored: dict[tuple[str, str], RatedEvent] = field(default_factory=dict)
    rows: list[WindowRow] = field(default_factory=list)  # insert order
    topic: list[WindowRow] = field(default_factory=list)  # publish order

    _truth: dict[WindowKey, ref.Sums] = field(default_factory=dict)
    _truth_of: int = -1

    def truth(self) -> dict[WindowKey, ref.Sums]:
        if self._truth_of != len(self.stored):  # events are only ever added
            self._truth = {key_of(s): v for s, v in ref.aggregate(self.stored.values()).items()}
            self._truth_of = len(self.stored)
        return self._truth

    def current(self) -> dict[WindowKey, WindowRow]:
        best: dict[WindowKey, WindowRow] = {}
        for row in self.rows:
            held = best.get(row.key)
            if held is None or row.revision >= held.revision:
                best[row.key] = row
        return best

    def held(self, keys: Iterable[WindowKey]) -> dict[WindowKey, Held]:
        truth, current = self.truth(), self.current()
        out = {}
        for key in keys:
            row = current.get(key)
            if key not in truth and row is None:
                continue
            totals = to_frozen(truth[key]) if key in truth else Frozen(0, 0, 0, 0, 0, 0, Decimal(0))
            out[key] = Held(
                totals=totals,
                revision=row.revision if row else 0,
                revised=row.totals if row and row.revision else None,
                row=row.totals if row else None,
                partition=row.partition if row else None,
            )
        return out

    def snapshot(self) -> Snapshot:
        newest: dict[str, int] = {}
        for r in self.stored.values():
            ms = (r.event.ts - ref.EPOCH) // timedelta(milliseconds=1)
            newest[r.event.account_id] = max(ms, newest.get(r.event.account_id, -1))
        open_keys = [k for k, row in self.current().items() if row.revision == 0]
        watermark: dict[int, int] = {}
        for row in self.rows:
            if row.key.granularity == "1d" and row.key.account_id in newest:
                watermark[row.partition] = max(watermark.get(row.partition, -1), newest[row.key.account_id])
        return Snapshot(newest_ms=newest, open_windows=self.held(open_keys), watermark=watermark)


def batch_revisions(out: Outgoing, stamp: int) -> list[WindowRow]:
    """The windows `outgoing` publishes from the batch's columns, as rows."""
    if out.batch is None or not out.batch_rows:
        return []
    keys = out.batch.keys
    return [
        WindowRow(WindowKey(*keys[i]), out.batch.end_ms[i], totals, 1, stamp, out.batch.last_partition[i])  # type: ignore[arg-type]
        for i, totals in zip(out.batch_rows, out.batch.totals(out.batch_rows), strict=True)
    ]


def run_batch(
    world: World, tracker: WindowTracker, batch: list[tuple[int, RatedEvent]], crash: str | None, now_ms: int = 0
) -> None:
    """One batch through the pipeline's steps, cut at `crash` (then the tracker is lost);
    `now_ms`: the wall clock the open rows' interval is counted on."""
    seen: set[tuple[str, str]] = set()
    rated = []
    for partition, r in batch:
        ident = (r.event.account_id, r.event.event_id)
        if ident not in seen:
            seen.add(ident)
            rated.append((partition, r))
    fresh = [(p, r) for p, r in rated if (r.event.account_id, r.event.event_id) not in world.stored]
    held_before = [(p, r) for p, r in rated if (r.event.account_id, r.event.event_id) in world.stored]
    if crash == "before_insert":
        raise Crash
    for _p, r in fresh:
        world.stored[(r.event.account_id, r.event.event_id)] = r
    if crash == "after_insert":
        raise Crash
    if not tracker.restored:
        tracker.restore(world.snapshot())
    load = tracker.apply(fresh, held_before)
    if load:
        tracker.absorb(world.held(load), load)
    out = tracker.outgoing(now_ms)
    stamp = 0
    revisions = [
        WindowRow(w.key, w.end_ms, w.totals, w.revision + 1, stamp, w.partition or 0) for w in out.revisions
    ] + batch_revisions(out, stamp)
    opens = [WindowRow(w.key, w.end_ms, w.totals, 0, stamp, w.partition or 0) for w in out.open_rows]
    truth = world.truth()
    for row in revisions:
        assert frac(row.totals) == sums_tuple(truth[row.key]), (
            f"published {row.key} with totals behind its stored events"
        )
    world.topic += revisions
    if crash == "after_publish":
        raise Crash
    world.rows += revisions + opens
    if crash == "after_rows":
        raise Crash
    tracker.written(out)


def make_event(n: int, account: str, key: str, model: str, offset_s: int, tokens: int) -> RatedEvent:
    ts = START + timedelta(seconds=offset_s)
    raw = {
        "schema_version": 1,
        "event_id": f"e{n}",
        "account_id": account,
        "api_key_id": key,
        "model": model,
        "input_tokens": tokens,
        "output_tokens": tokens // 3,
        "cached_input_tokens": tokens // 4,
        "reasoning_tokens": tokens // 7,
        "ts": ts.isoformat().replace("+00:00", "Z"),
        "latency_ms": 10,
    }
    return rate_event(decode_event(orjson.dumps(raw)), ACCOUNTS[account], BOOK)


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[list[tuple[int, RatedEvent]]], dict[int, str]]:
    """Batches of (partition, event): mostly moving forward in time, some late (minutes to two
    days), some duplicates of earlier events; and which batches crash where."""
    count = draw(st.integers(min_value=1, max_value=60))
    clock = 0
    events = []
    for n in range(count):
        clock += draw(st.integers(min_value=0, max_value=5400))
        late = draw(st.sampled_from([0, 0, 0, 0, 30, 600, 7200, 172_800]))
        account = draw(st.sampled_from(sorted(ACCOUNTS)))
        events.append(
            make_event(
                n,
                account,
                draw(st.sampled_from(["k1", "k2"])),
                draw(st.sampled_from(["qwen-max", "qwen-turbo"])),
                max(0, clock - late),
                draw(st.integers(min_value=1, max_value=5000)),
            )
        )
    records = [(PARTITION[e.event.account_id], e) for e in events]
    for _ in range(draw(st.integers(min_value=0, max_value=8))):  # producer retries, any age
        records.insert(draw(st.integers(0, len(records))), records[draw(st.integers(0, len(records) - 1))])
    batches, i = [], 0
    while i < len(records):
        size = draw(st.integers(min_value=1, max_value=12))
        batches.append(records[i : i + size])
        i += size
    crashes = draw(st.dictionaries(st.integers(0, len(batches) - 1), st.sampled_from(CRASH_POINTS), max_size=3))
    return batches, crashes


def check_end_state(world: World, watermark: Mapping[int, int]) -> None:
    ends = {key_of(s): s.end_ms for s in ref.aggregate(world.stored.values())}
    truth = world.truth()
    current = world.current()
    last_published: dict[WindowKey, WindowRow] = {}
    for row in world.topic:
        before = last_published.get(row.key)
        assert before is None or row.revision >= before.revision, "revisions go backwards on the topic"
        last_published[row.key] = row
    for key, sums in truth.items():
        row = current.get(key)
        assert row is not None, f"{key} has stored events but no window row"
        assert frac(row.totals) == sums_tuple(sums), f"{key}: the warehouse's row is not its stored events"
        partition = PARTITION[key.account_id]
        if key in last_published:  # whichever life published it, the last revision is right
            assert frac(last_published[key].totals) == sums_tuple(sums), f"{key}: last revision is stale"
        if ends[key] <= watermark.get(partition, -1):
            assert key in last_published, f"{key} closed but never published"
            assert row.revision >= 1, f"{key} closed but the warehouse holds it as open"
        elif row.revision >= 1:
            assert key in last_published, f"{key} stored as published but never published"


@settings(max_examples=150, deadline=None)
@given(stream=streams())
def test_windows_equal_the_stored_events_whatever_crashed(
    stream: tuple[list[list[tuple[int, RatedEvent]]], dict[int, str]],
) -> None:
    batches, crashes = stream
    world = World()
    tracker = WindowTracker()
    for n, batch in enumerate(batches):
        crash = crashes.get(n)
        if crash is not None:
            with pytest.raises(Crash):
                run_batch(world, tracker, batch, crash)
            tracker = WindowTracker()  # the process died: its memory is gone
        run_batch(world, tracker, batch, None)  # delivered again (or the first time)
    check_end_state(world, tracker.watermark)


def write_open_rows(world: World, tracker: WindowTracker, out: Outgoing) -> None:
    """Store an `outgoing` / `behind_open_rows` answer given between batches (open rows only)."""
    assert out.revisions == [] and out.batch_rows == []
    world.rows += [WindowRow(w.key, w.end_ms, w.pending, 0, 0, w.partition) for w in out.open_rows]  # type: ignore[arg-type]
    tracker.written(out)


@settings(max_examples=150, deadline=None)
@given(stream=streams(), ticks=st.lists(st.integers(0, 3000), min_size=60, max_size=60))
def test_open_rows_written_at_most_every_interval_still_give_exact_windows(
    stream: tuple[list[list[tuple[int, RatedEvent]]], dict[int, str]], ticks: list[int]
) -> None:
    # Open rows rewritten at most every second of a wall clock that moves 0-3 s per batch, some
    # of it between batches: every window with stored events keeps a row (a restart needs it),
    # every revision is exact (checked in run_batch), and once the stopping worker writes the
    # open rows that are behind, every row equals its stored events.
    batches, crashes = stream
    world = World()
    tracker = WindowTracker(open_row_every_ms=1000)
    now = 0
    for n, batch in enumerate(batches):
        now += ticks[n % len(ticks)]
        crash = crashes.get(n)
        if crash is not None:
            with pytest.raises(Crash):
                run_batch(world, tracker, batch, crash, now)
            tracker = WindowTracker(open_row_every_ms=1000)
        run_batch(world, tracker, batch, None, now)
        missing = set(world.truth()) - set(world.current())
        assert not missing, f"windows with stored events but no row: {sorted(missing)[:3]}"
        if n % 3 == 0:  # a quiet moment: the rows that fell due are written
            now += ticks[(n + 1) % len(ticks)]
            write_open_rows(world, tracker, tracker.outgoing(now))
    write_open_rows(world, tracker, tracker.behind_open_rows())
    check_end_state(world, tracker.watermark)


def test_an_open_row_is_written_at_once_then_at_most_every_interval() -> None:
    world, tracker = World(), WindowTracker(open_row_every_ms=5000)
    run_batch(world, tracker, [(0, make_event(1, "a3", "k1", "qwen-max", 10, 100))], None, now_ms=1000)
    assert {(r.key.granularity, r.totals.requests) for r in world.rows} == {("1m", 1), ("1h", 1), ("1d", 1)}
    run_batch(world, tracker, [(0, make_event(2, "a3", "k1", "qwen-max", 20, 100))], None, now_ms=3000)
    assert len(world.rows) == 3  # changed, but not due before 6000
    assert tracker.outgoing(5999).open_rows == []
    due = tracker.outgoing(6000)  # no event since: due all the same
    assert sorted(w.key.granularity for w in due.open_rows) == ["1d", "1h", "1m"]
    write_open_rows(world, tracker, due)
    assert {r.totals.requests for r in world.current().values()} == {2}
    run_batch(world, tracker, [(0, make_event(3, "a3", "k1", "qwen-max", 30, 100))], None, now_ms=7000)
    behind = tracker.behind_open_rows()  # a stopping worker writes them, due or not
    assert sorted(w.key.granularity for w in behind.open_rows) == ["1d", "1h", "1m"]
    write_open_rows(world, tracker, behind)
    assert {r.totals.requests for r in world.current().values()} == {3}
    assert tracker.behind_open_rows().open_rows == []


def test_a_window_is_published_once_its_end_passes_and_again_when_a_late_event_changes_it() -> None:
    world, tracker = World(), WindowTracker()
    first = make_event(1, "a3", "k1", "qwen-max", 10, 100)  # 20:00:10
    run_batch(world, tracker, [(0, first)], None)
    assert world.topic == []  # nothing closed yet
    run_batch(world, tracker, [(0, make_event(2, "a3", "k1", "qwen-max", 70, 100))], None)  # 20:01:10
    [minute] = world.topic
    assert minute.key.granularity == "1m" and minute.revision == 1 and minute.totals.requests == 1
    run_batch(world, tracker, [(0, make_event(3, "a3", "k1", "qwen-max", 20, 50))], None)  # late, 20:00:20
    assert [(r.key, r.revision, r.totals.requests) for r in world.topic[1:]] == [(minute.key, 2, 2)]
    run_batch(world, tracker, [(0, first)], None)  # a duplicate changes nothing
    assert len(world.topic) == 2


def test_a_window_evicted_from_memory_is_reloaded_for_an_event_days_late() -> None:
    world, tracker = World(), WindowTracker()
    run_batch(world, tracker, [(0, make_event(1, "a3", "k1", "qwen-max", 0, 100))], None)
    run_batch(world, tracker, [(0, make_event(2, "a3", "k1", "qwen-max", 3 * 86_400, 100))], None)
    published = {(r.key.granularity, r.key.start_ms) for r in world.topic}
    assert {g for g, _ in published} == {"1m", "1h", "1d"}
    assert len(tracker.windows) < 9  # the first event's minute and hour left memory
    run_batch(world, tracker, [(0, make_event(3, "a3", "k1", "qwen-max", 5, 100))], None)
    latest = {r.key.granularity: r for r in world.topic[-3:]}
    assert {g: (r.revision, r.totals.requests) for g, r in latest.items()} == {"1m": (2, 2), "1h": (2, 2), "1d": (2, 2)}


def test_a_restarted_worker_publishes_an_open_window_closed_by_its_partition_clock() -> None:
    # a1's minute stays open when the worker dies; after the restart only a3 (same partition)
    # sends: its events move the partition's clock past a1's window, which is then published.
    world, tracker = World(), WindowTracker()
    run_batch(world, tracker, [(0, make_event(1, "a1", "k1", "qwen-max", 0, 100))], None)
    assert world.topic == [] and {r.revision for r in world.rows} == {0}
    tracker = WindowTracker()
    run_batch(world, tracker, [(0, make_event(2, "a3", "k1", "qwen-max", 120, 100))], None)
    assert [(r.key.account_id, r.key.granularity) for r in world.topic] == [("a1", "1m")]


def test_a_window_new_and_past_its_retention_in_one_batch_is_published_from_the_columns() -> None:
    # One batch: a minute of the 1st day and an event three days later on the same partition. The
    # first event's windows are new, closed and past their retention: published at revision 1
    # straight from the batch's columns, never held; a late event for them loads them again.
    world, tracker = World(), WindowTracker()
    early, later = make_event(1, "a3", "k1", "qwen-max", 0, 100), make_event(2, "a3", "k2", "qwen-max", 3 * 86_400, 7)
    run_batch(world, tracker, [(0, make_event(0, "a1", "k1", "qwen-max", 0, 10))], None)  # restored
    for _p, r in [(0, early), (0, later)]:
        world.stored[(r.event.account_id, r.event.event_id)] = r
    assert tracker.apply([(0, early), (0, later)], []) == {}
    out = tracker.outgoing()
    from_columns = batch_revisions(out, 0)
    assert {(r.key.api_key_id, r.key.granularity, r.revision, r.totals.requests) for r in from_columns} == {
        ("k1", "1m", 1, 1),
        ("k1", "1h", 1, 1),
        ("k1", "1d", 1, 1),
    }
    held = {w.key.api_key_id for w in tracker.windows.values() if w.key.account_id == "a3"}
    assert held == {"k2"}  # the open windows are held, the published ones never were
    truth = world.truth()
    assert all(frac(r.totals) == sums_tuple(truth[r.key]) for r in from_columns)
    world.topic += from_columns
    world.rows += from_columns + [WindowRow(w.key, w.end_ms, w.totals, 0, 0, 0) for w in out.open_rows]
    tracker.written(out)
    run_batch(world, tracker, [(0, make_event(3, "a3", "k1", "qwen-max", 30, 5))], None)  # late: loaded
    latest = {r.key.granularity: r for r in world.topic if r.key.api_key_id == "k1"}
    assert {g: (r.revision, r.totals.requests) for g, r in latest.items()} == {"1m": (2, 2), "1h": (2, 2), "1d": (2, 2)}


@settings(max_examples=60, deadline=None)
@given(stream=streams(), data=st.data())
def test_the_insert_table_gives_the_same_windows_as_the_rated_events(
    stream: tuple[list[list[tuple[int, RatedEvent]]], dict[int, str]], data: st.DataObject
) -> None:
    # The pipeline aggregates the insert's Arrow table (rows the warehouse refused left out);
    # the tracker's own `apply` builds its columns from the rated events: both must agree.
    from usageflow.streams.rated_rows import rated_events_table
    from usageflow.windows.batch import aggregate, event_table, events_of_rated

    records = [pair for batch in stream[0] for pair in batch]
    stored = data.draw(st.lists(st.booleans(), min_size=len(records), max_size=len(records)))
    kept = [pair for pair, keep in zip(records, stored, strict=True) if keep]
    if not kept:
        return
    from_insert = aggregate(
        events_of_rated(rated_events_table([r for _p, r in records]), [p for p, _r in records], stored)
    )
    from_events = aggregate(event_table(kept))
    assert from_insert.table.equals(from_events.table)
    assert (from_insert.watermarks, from_insert.newest) == (from_events.watermarks, from_events.newest)
