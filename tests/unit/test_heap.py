"""The cyclic collector is paused for a batch and left as it was found."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from usageflow.streams.heap import collect_young, collector_paused

pytestmark = pytest.mark.unit


@pytest.fixture
def collector_enabled() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_no_automatic_collection_inside_and_the_collector_back_after(collector_enabled: None) -> None:
    with collector_paused():
        assert not gc.isenabled()
        cycle = weakref.ref(Node())
        kept = [[] for _ in range(10 * gc.get_threshold()[0])]  # far past the young threshold
        assert cycle() is not None
        del kept
    assert gc.isenabled()
    collect_young()
    assert cycle() is None


def test_the_collector_comes_back_when_the_batch_raises(collector_enabled: None) -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("a failed batch")
    assert gc.isenabled()


def test_a_process_that_disabled_the_collector_keeps_it_disabled(collector_enabled: None) -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_a_young_collection_frees_cycles_while_paused(collector_enabled: None) -> None:
    with collector_paused():
        cycle = weakref.ref(Node())
        collect_young()
        assert cycle() is None
        assert not gc.isenabled()
