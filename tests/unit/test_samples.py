"""The files `usageflow sample` ships: what the quickstart publishes and loads."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml

from usageflow.cli.main import main
from usageflow.cli.sample_cmd import SAMPLES, sample_file
from usageflow.demo.generator import BAD_LINES, MODELS, sample_event_lines
from usageflow.pricing.price_book import PriceBook, load_price_book
from usageflow.schemas import Account

pytestmark = pytest.mark.unit


def demo_accounts() -> list[Account]:
    return [Account.model_validate(a) for a in yaml.safe_load(sample_file("accounts").read_text())]


def test_the_sample_price_book_is_the_built_in_one(tmp_path: Path) -> None:
    path = tmp_path / "price-book.yaml"
    path.write_bytes(sample_file("price-book").read_bytes())
    book = load_price_book(path)
    assert book == PriceBook()
    assert book.model_dump(mode="json") == PriceBook().model_dump(mode="json")


def test_the_sample_events_are_what_the_generator_makes() -> None:
    shipped = sample_file("events").read_bytes().splitlines()
    assert shipped == list(sample_event_lines())


def test_the_sample_events_cover_the_demo_accounts_and_models_and_have_bad_lines() -> None:
    lines = sample_file("events").read_bytes().splitlines()
    assert 2000 <= len(lines) <= 10_000
    events = []
    for line in lines:
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict) and "account_id" in value and value.get("model") != "gpt-unknown":
            events.append(value)
    accounts = {e["account_id"] for e in events}
    assert accounts == {a.account_id for a in demo_accounts()}
    assert {e["model"] for e in events} == {m for m, _ in MODELS}
    assert {e["ts"][:7] for e in events} == {"2026-11"}
    bad = [line for line in lines if line in BAD_LINES]
    assert len(bad) >= 3
    ids = [e["event_id"] for e in events]
    assert len(ids) > len(set(ids)), "the sample has no producer retries to dedupe"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_prints_or_writes_the_file(capsys: pytest.CaptureFixture[bytes], tmp_path: Path, name: str) -> None:
    expected = sample_file(name).read_bytes()
    with pytest.raises(SystemExit) as stop:
        main(["sample", name])
    assert stop.value.code == 0
    assert capsys.readouterr().out == expected.decode()
    out = tmp_path / "copy"
    with pytest.raises(SystemExit) as stop:
        main(["sample", name, "--out", str(out)])
    assert stop.value.code == 0
    assert out.read_bytes() == expected


def test_sample_to_an_unwritable_path_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["sample", "events", "--out", str(tmp_path / "nope" / "events.jsonl")])
    err = capsys.readouterr().err
    assert stop.value.code == 1
    assert err.strip().startswith("usageflow: cannot write") and len(err.strip().splitlines()) == 1
