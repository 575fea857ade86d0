"""API fixtures: the Postbox on both databases with its blobs on the loopback S3 server."""
from tests.api.live import live, s3_pb  # noqa: F401 - fixtures
