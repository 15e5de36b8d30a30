"""Shared fixtures: the real local stack (session scope) lives in tests/fixtures/stack.py."""

pytest_plugins = ["tests.fixtures.stack"]
