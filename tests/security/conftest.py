"""The security tests reuse the console's scoped world (two townships, a clerk each, an admin)."""

from tests.console.conftest import world  # noqa: F401
