"""Fault-injection suite (issue 7): `make test-faults` = `pytest -m faults`."""
