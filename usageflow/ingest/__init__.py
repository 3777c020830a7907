"""Turning raw Kafka records into valid, rated events (pure logic, unit-tested)."""
