"""A real single-node Kafka broker for local runs and integration tests."""
