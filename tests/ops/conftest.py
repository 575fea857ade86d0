from tests.web.conftest import alice, app, bob, client, org  # noqa: F401  (shared fixtures)
