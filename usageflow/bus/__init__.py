"""Kafka plumbing over confluent-kafka: topics, the idempotent producer, the account directory."""
