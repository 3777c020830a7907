"""Hostile records straight onto the real topics, through the real worker and warehouse: the
worker keeps going, every hostile record is dead-lettered with its reason, and the good
events' invoices stay exact."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from tests.fixtures.cli import UsageflowCli
from tests.fixtures.hostile import GOOD_EVENTS, HOSTILE_ACCOUNTS, HOSTILE_EVENTS, event, line
from usageflow.bus.admin import ensure_topics
from usageflow.bus.producer import Publisher
from usageflow.config import KafkaSettings, TopicSettings

pytestmark = pytest.mark.integration

# A payg account: its invoice is usage only. 3 x 100,000 qwen-max us-west peak tokens: L = 1.80,
# tiers (100,000 x 1.0 + 200,000 x 0.9) / 300,000 -> usage 1.80 x 0.9333... = 1.68.
VALID_ACCOUNT = "- account_id: hostile-edu\n  plan: payg\n"
GOOD_USAGE = (300_000, "1.68")


def sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def pub_kafka(cli: UsageflowCli) -> KafkaSettings:
    return KafkaSettings(bootstrap=cli.env["USAGEFLOW_KAFKA_BOOTSTRAP"])


def publisher(cli: UsageflowCli) -> tuple[Publisher, TopicSettings]:
    topics = TopicSettings(topic_prefix=cli.env["USAGEFLOW_TOPIC_PREFIX"])
    return Publisher(pub_kafka(cli), topics), topics


def invoice(cli: UsageflowCli, account: str) -> dict[str, Any]:
    invoices = cli.json("invoice", "--month", "2026-11", "--account", account, "--format", "json")
    assert len(invoices) == 1, invoices
    return invoices[0]  # type: ignore[no-any-return]


def usage(inv: dict[str, Any]) -> tuple[int, str]:
    return inv["tokens"], next(li["amount"] for li in inv["lines"] if li["kind"] == "usage")


def hostile_events() -> list[tuple[bytes, str]]:
    """The corpus, with "ahead of the clock" measured against the real clock of this run."""
    ahead = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    corpus = [(raw, reason) for name, raw, reason in HOSTILE_EVENTS if name != "an hour ahead"]
    return [*corpus, (line(event("h-ahead", ts=ahead)), "ts_out_of_range")]


def test_hostile_records_on_the_topics_never_stop_the_worker(cli: UsageflowCli, tmp_path: Path) -> None:
    (tmp_path / "accounts.yaml").write_text(VALID_ACCOUNT)
    cli.run("accounts", "load", str(tmp_path / "accounts.yaml"))  # also creates the topics
    pub, topics = publisher(cli)
    for value, key, _why in HOSTILE_ACCOUNTS:  # after the valid version: the account keeps it
        pub.send(topics.accounts, key, value)
    attacks = hostile_events()
    for raw in [attacks[0][0], *GOOD_EVENTS[:2], *(a[0] for a in attacks[1:]), GOOD_EVENTS[2]]:
        pub.send(topics.events, b"hostile-edu", raw)
    pub.flush()

    (tmp_path / "none.jsonl").write_text("")
    done = cli.run("replay", str(tmp_path / "none.jsonl"))
    assert f"dead-lettered {len(attacks)}" in done.stdout, done.stdout
    entries = cli.json("dlq", "list", "--format", "json")
    from_events = {e["original_sha256"]: e["reason"] for e in entries if e["origin"]["topic"] == topics.events}
    assert from_events == {sha(raw): reason for raw, reason in attacks}
    from_accounts = [e for e in entries if e["origin"]["topic"] == topics.accounts]
    assert {e["original_sha256"] for e in from_accounts} == {sha(v) for v, _k, _w in HOSTILE_ACCOUNTS}
    assert {e["reason"] for e in from_accounts} == {"invalid_account"}
    oversized = next(e for e in entries if e["original_size"] > 800_000)
    assert oversized["original_truncated"] and oversized["reason"] == "invalid_json"

    inv = invoice(cli, "hostile-edu")
    assert inv["plan"] == "payg" and usage(inv) == GOOD_USAGE
    for nobody in ("edu-victim", "atk"):  # the duplicate account_id billed neither: both stay unknown
        refused = cli.run("invoice", "--month", "2026-11", "--account", nobody, "--format", "json", check=False)
        assert refused.returncode == 1 and f"unknown account '{nobody}'" in refused.stderr, refused.stderr

    # A restarted worker starts despite the bad account records, and later changes still land.
    (tmp_path / "accounts.yaml").write_text("- account_id: hostile-edu\n  plan: starter\n")
    cli.run("accounts", "load", str(tmp_path / "accounts.yaml"))
    cli.run("replay", str(tmp_path / "none.jsonl"))
    assert invoice(cli, "hostile-edu")["plan"] == "starter"
    again = cli.json("dlq", "list", "--format", "json")
    assert len(again) == len(entries)  # account records dead-lettered again at start: one entry each
    listing = cli.run("dlq", "list").stdout
    assert "\x1b" not in listing and "\\x1b" in listing and "[/bold] {oops" in listing


def limit_record_size(cli: UsageflowCli, topic: str, max_bytes: int) -> None:
    """A topic whose records may be smaller than the 1 MB the contract allows (a real setting
    operators use): the broker itself then refuses a valid event."""
    admin = AdminClient({"bootstrap.servers": cli.env["USAGEFLOW_KAFKA_BOOTSTRAP"]})
    entry = ConfigEntry("max.message.bytes", str(max_bytes), incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[entry])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)


def test_publish_reports_oversized_and_unsendable_lines(cli: UsageflowCli, tmp_path: Path) -> None:
    topics = TopicSettings(topic_prefix=cli.env["USAGEFLOW_TOPIC_PREFIX"])
    ensure_topics(pub_kafka(cli), topics)
    limit_record_size(cli, topics.events, 200_000)
    bad = b'{"schema_version": 1, "pad": "' + b"x" * 800_000 + b'"'
    # valid, but too big for this events topic (random text: compression cannot shrink it)
    big = json.dumps({**event("big"), "pad": base64.b64encode(os.urandom(300_000)).decode()}).encode()
    lines = [GOOD_EVENTS[0], bad, big, b"", GOOD_EVENTS[1]]
    path = tmp_path / "e.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = json.loads(cli.run("publish", str(path), "--format", "json").stdout)
    assert (report["lines"], report["published"], report["rejected"]) == (4, 2, 2)
    assert [(r["line"], r["reason"]) for r in report["rejections"]] == [(2, "invalid_json"), (3, "unsendable")]
    entries = {e["original_sha256"]: e for e in cli.json("dlq", "list", "--format", "json")}
    assert set(entries) == {sha(bad), sha(big)}
    assert entries[sha(bad)]["original_truncated"] and entries[sha(bad)]["original_size"] == len(bad)
    unsendable = entries[sha(big)]
    assert not unsendable["original_truncated"] and unsendable["message"].startswith("Kafka refused the record")
    assert base64.b64decode(unsendable["original_b64"]) == big  # kept whole: it can be replayed elsewhere


def test_dead_letter_entries_are_distinct_and_replay_is_idempotent(cli: UsageflowCli, tmp_path: Path) -> None:
    for folder in ("a", "b"):  # two files of the same name, each with a schema error and markup
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "e.jsonl").write_bytes(
            line(event(f"neg-{folder}", input_tokens=-1)) + b"\n[/bold] {oops \x1b[2J\n" + GOOD_EVENTS[0] + b"\n"
        )
        cli.run("publish", str(tmp_path / folder / "e.jsonl"))
    entries = cli.json("dlq", "list", "--format", "json")
    assert sorted((e["origin"]["topic"], e["reason"]) for e in entries) == [
        ("file:e.jsonl", "invalid_json"),
        ("file:e.jsonl", "invalid_json"),
        ("file:e.jsonl", "schema"),
        ("file:e.jsonl", "schema"),
    ]
    assert len({e["id"] for e in entries}) == 4

    first = cli.run("dlq", "replay", "--reason", "schema").stdout
    assert "re-published 2 record(s)" in first
    second = cli.run("dlq", "replay", "--reason", "schema").stdout
    assert "re-published 0 record(s)" in second and "2 already replayed" in second
    (tmp_path / "none.jsonl").write_text("")
    cli.run("replay", str(tmp_path / "none.jsonl"))  # the copies fail again
    for _round in range(2):
        after = cli.json("dlq", "list", "--format", "json")
        schema = [e for e in after if e["reason"] == "schema"]
        assert len(after) == 4 and len(schema) == 2
        assert all(e["attempts"] == 2 + _round and e["status"] == "open" for e in schema)
        cli.run("dlq", "replay", "--reason", "schema")
        cli.run("replay", str(tmp_path / "none.jsonl"))
    listing = cli.run("dlq", "list").stdout
    assert "\x1b" not in listing and "[/bold] {oops" in listing
