"""trio-asyncio 0.16's tests that do not pass on ``trioloop.compat``, by
pytest node id, each with the reason (docs/migrating.rst says what to write
instead)."""

EXPECTED_FAILURES: dict[str, str] = {}
