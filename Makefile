# One entry point for everything. Every target makes its own virtual
# environment under .venv/ and installs what it needs.

PYTHON_DEMO ?= 3.11

.PHONY: demo test test-quick test-newest lint bench clean

demo:  ## Run the demo: an asyncio server and clients inside trio.run
	@bash -c 'source scripts/pythons.sh && venv=$$(venv_for $(PYTHON_DEMO)) && $$venv/bin/python examples/demo.py'

test:  ## All tests (ours + CPython's test_asyncio) on Python 3.10-3.15, and lint
	bash scripts/test.sh

test-newest:  ## The same on Python 3.14 and 3.15 only (Debian-sid chroot)
	bash scripts/test.sh 3.14 3.15

test-quick:  ## Our tests on one Python only
	bash scripts/test.sh $(PYTHON_DEMO)

clean:
	rm -rf .venv build dist src/*.egg-info .cache
