"""What the pipeline retries: outages until they heal, other errors a few times, data never."""

from __future__ import annotations

import threading

import pytest

from usageflow.errors import BrokerError, WarehouseError
from usageflow.streams.retry import RetryPolicy, StopRequested
from usageflow.warehouse.failures import classify, warehouse_error

pytestmark = pytest.mark.unit


class Flaky:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "done"


def policy(stop: threading.Event | None = None) -> RetryPolicy:
    return RetryPolicy(stop or threading.Event(), first_delay_s=0.001, max_delay_s=0.002)


def test_an_outage_is_waited_out_and_reported_while_it_lasts() -> None:
    retry = policy()
    outage = WarehouseError("Code: 252. Too many parts (TOO_MANY_PARTS)", code=252, kind="outage")
    seen: list[float | None] = []

    def work() -> str:
        seen.append(retry.failing_since)
        if len(seen) <= 5:
            raise outage
        return "stored"

    assert retry.call("insert", work) == "stored"
    assert seen[0] is None and all(s is not None for s in seen[1:])
    assert retry.failing_since is None  # healed


def test_a_broker_away_is_an_outage_too() -> None:
    flaky = Flaky([BrokerError("broker down"), BrokerError("broker down")])
    assert policy().call("read back", flaky) == "done" and flaky.calls == 3


def test_an_error_that_cannot_heal_is_raised_after_a_few_attempts() -> None:
    fatal = WarehouseError("Code: 60. Unknown table (UNKNOWN_TABLE)", code=60, kind="fatal")
    flaky = Flaky([fatal] * 10)
    with pytest.raises(WarehouseError):
        policy().call("query", flaky)
    assert flaky.calls == 3


def test_refused_data_is_raised_at_once() -> None:
    flaky = Flaky([WarehouseError("Code: 321", code=321, kind="data")])
    with pytest.raises(WarehouseError):
        policy().call("insert", flaky)
    assert flaky.calls == 1


def test_a_stop_request_ends_the_wait_without_storing() -> None:
    stop = threading.Event()
    outage = WarehouseError("connection refused", kind="outage")
    calls = 0

    def work() -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            stop.set()
        raise outage

    with pytest.raises(StopRequested):
        policy(stop).call("insert", work)
    assert calls == 3


@pytest.mark.parametrize(
    ("code", "message", "kind"),
    [
        (252, "Too many parts", "outage"),
        (210, "Connection refused", "outage"),
        (None, "HTTPConnectionPool: Max retries exceeded (Connection refused)", "outage"),
        (None, "Cannot lock file /x/status. Another server instance in same directory is already running", "outage"),
        (321, "Arrow IPC date32 value 120530 is out of the allowed Date range", "data"),
        (407, "Decimal convert overflow", "data"),
        (60, "Unknown table expression identifier 'nope'", "fatal"),
        (62, "Syntax error", "fatal"),
    ],
)
def test_classification(code: int | None, message: str, kind: str) -> None:
    assert classify(code, message) == kind


def test_the_code_and_name_are_read_from_the_engine_message() -> None:
    error = warehouse_error(
        RuntimeError("Code: 321. DB::Exception: value is out of range:\nmore\n(VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE)")
    )
    assert (error.code, error.name, error.kind) == (321, "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE", "data")
    assert "\n" not in str(error)
