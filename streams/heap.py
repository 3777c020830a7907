"""How the worker keeps Python's cyclic garbage collector off its hot path.

Nearly everything a batch allocates is freed by reference counting when the batch is done;
the collector only has cycles to find. Left to its allocation counters, it runs many times
inside a 20,000-event batch: every young collection promotes the batch's still-live records,
so the older generations fill up with them and full collections walk the batch and all the
live state again (measured at 20,000 accounts: 0.4–0.5 s of each ~2.5 s batch, 0.1 s at 1,000
accounts). So:

* `collector_paused` holds the collector for the length of one batch. When it resumes, the
  collector's own counters are far past their thresholds, so its next allocation runs a young
  collection: the cycles the batch made (few) are found then, among the young objects that
  outlived it, without walking the old ones.
* `settle_heap`, after the live state is (re)built, moves every object alive then out of the
  collector's way for good (`gc.freeze`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic collection inside the block (explicit `gc.collect` still works). Leaves the
    collector as it found it: a process that had it disabled keeps it disabled."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def collect_young() -> None:
    """Collect the cycles among the objects not yet promoted: called while a paused batch waits
    (an outage's retries), so garbage made meanwhile does not pile up for the whole wait."""
    gc.collect(0)


def settle_heap() -> None:
    """After the live state is (re)built: collect once, then move every object alive now out of
    the cyclic collector's way (`gc.freeze`). The long-lived state (accounts, price book, the
    engine's totals, chDB's and Arrow's module objects) is most of the heap; without this, each
    full collection walks all of it again. Frozen objects are still freed by reference counting;
    the next restore unfreezes them first, so cycles among them are collected then."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
