"""Shared fixtures: real servers on loopback live in tests/fixtures/, one module per server."""
pytest_plugins = [
    "tests.fixtures.seaweed",
    "tests.fixtures.databases",
    "tests.fixtures.postbox",
    "tests.fixtures.smtp",
]
