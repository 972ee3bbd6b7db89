# The README's two commands: `make run` and `make test`. Everything else here serves them.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_ORDERS ?= 5000
# `make run` and `make test` are for development machines: the public development secret key is fine.
export DEBUG ?= 1

.PHONY: run test test-unit test-browser browsers lint format venv migrate seed clean

venv: $(STAMP)

# Rebuilt whenever requirements.txt changes (the stamp name carries its checksum).
$(STAMP): requirements.txt scripts/find-python
	@interp=$$(scripts/find-python) || exit 1; \
	if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then \
		echo "Creating $(VENV) with $$interp"; rm -rf $(VENV); "$$interp" -m venv $(VENV) || exit 1; \
	fi
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@rm -f $(VENV)/.installed-*; touch $@

migrate: venv
	$(PY) manage.py migrate --no-input

seed: migrate
	$(PY) manage.py seed_demo --orders $(DEMO_ORDERS) --if-empty
	$(PY) manage.py ensure_demo_admin

# The server and, beside it, the worker that runs background tasks (bulk imports, export jobs); stopping
# the server (Ctrl-C) stops the worker.
run: seed
	@echo "Serving on http://$(HOST):$(PORT)/ (sign in at http://$(HOST):$(PORT)/login/)"
	@$(PY) manage.py db_worker --no-startup-delay & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT; \
	$(PY) manage.py runserver $(HOST):$(PORT)

# The whole suite: unit and HTTP tests, then the real-browser tests.
test: test-unit test-browser

test-unit: venv
	$(PY) -m pytest -m "not browser" $(PYTEST_ARGS)

# Debian's Chromium for Playwright (it cannot download its own browsers here).
browsers:
	@if [ -x /usr/bin/chromium ]; then echo "Chromium: $$(/usr/bin/chromium --version 2>/dev/null)"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get install -y -q chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium; }; \
	else echo "Chromium is missing: run 'sudo apt-get install -y chromium'." >&2; exit 1; fi

test-browser: venv browsers
	DJANGO_ALLOW_ASYNC_UNSAFE=true $(PY) -m pytest -m browser tests/browser $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
