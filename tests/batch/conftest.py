"""Batch fixtures: the live API server (tests/api/live.py) for the CLI tests."""
from tests.api.live import live, s3_pb  # noqa: F401 - fixtures
