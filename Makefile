# One entry point for everything. Every target makes its own virtual
# environment under .venv/ and installs what it needs.

PYTHON_DEMO ?= 3.11

.PHONY: demo test test-quick test-newest lint docs bench stress stress-full wheel clean

demo:  ## Run the demo: an asyncio server and clients inside trio.run
	@bash -c 'source scripts/pythons.sh && venv=$$(venv_for $(PYTHON_DEMO)) && $$venv/bin/python examples/demo.py'

test:  ## All tests (ours + CPython's test_asyncio) on Python 3.10-3.15, and lint
	bash scripts/test.sh

test-newest:  ## The same on Python 3.14 and 3.15 only (Debian-sid chroot)
	bash scripts/test.sh 3.14 3.15

test-quick:  ## Our tests on one Python only (no conformance, stress or lint)
	TRIOLOOP_CONFORMANCE=0 TRIOLOOP_STRESS=0 TRIOLOOP_CHECKS=0 bash scripts/test.sh $(PYTHON_DEMO)

lint:  ## ruff and mypy --strict
	bash scripts/lint.sh

docs:  ## Build the Sphinx docs into docs/_build/html (warnings are errors)
	bash scripts/docs.sh

bench:  ## Benchmarks: asyncio, trio-asyncio, trioloop and uvloop side by side
	bash scripts/bench.sh

stress:  ## Reliability suite, quick mode, beside stock asyncio
	bash -c 'source scripts/pythons.sh && $$(venv_for 3.12)/bin/python -m tests.stress --quick'

stress-full:  ## Reliability suite, full mode (under 20 minutes)
	bash -c 'source scripts/pythons.sh && $$(venv_for 3.12)/bin/python -m tests.stress --full'

wheel:  ## Build sdist and wheel, check them, smoke-test the wheel in a fresh venv
	bash scripts/check-wheel.sh

clean:
	rm -rf .venv build dist src/*.egg-info .cache
