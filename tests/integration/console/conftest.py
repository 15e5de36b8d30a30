from tests.fixtures.dashboard_server import dashboard_server  # noqa: F401
from tests.fixtures.redis_server import redis_client, redis_server  # noqa: F401
