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

.PHONY: run test lint format venv migrate seed browsers test-browser clean

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

run: seed
	@echo "Serving on http://$(HOST):$(PORT)/"
	$(PY) manage.py runserver $(HOST):$(PORT)

test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
