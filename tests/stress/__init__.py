"""Stress, fault and fuzz scenarios for trioloop, each beside stock asyncio.

Run them with ``python -m tests.stress`` (``--quick`` for CI, ``--full`` for
the long run); see ``run.py``.  Every scenario runs in a process of its own
with a hard time limit, once on stock asyncio and once on trioloop, so every
figure it prints has its reference next to it.  The scenario modules
(``scenario_*.py``) are also runnable alone::

    python -m tests.stress.scenario_load --impl trioloop --mode quick

``test_bridge_fuzz.py`` is a normal pytest file: the regular test suite runs
the bridge fuzzer with a small number of examples.
"""
