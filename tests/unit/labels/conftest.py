"""A real redis-server (free port, stopped by pid) for the label mirror tests."""

from tests.fixtures.redis_server import redis_client, redis_server  # noqa: F401
