# Klantbeeld — the commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test e2e lint bench install lock clean-local messages

# Create the virtual environment and install everything from the lock file (again only
# when it changes): the versions CI tests are the versions the image runs.
$(STAMP): pyproject.toml requirements/dev.txt
	@$(PYTHON) -c 'import sys; sys.exit("Klantbeeld needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements/dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Local settings for `make run`: DEBUG on and a random secret key, written once. Not
# .env: that file is docker compose's (.env.example), and neither may clobber the other.
DEV_ENV := var/dev.env
$(DEV_ENV):
	@mkdir -p var
	@if [ -f .env ] && grep -qx 'DEBUG=true' .env && ! grep -q '^SUPPRESSION_HASH_KEY=' .env; then \
		mv .env $(DEV_ENV); echo "Moved the .env an older make run wrote to $(DEV_ENV)."; \
	else \
		$(PYTHON) -c 'import secrets; print("DEBUG=true\nSECRET_KEY=" + secrets.token_urlsafe(50))' > $(DEV_ENV); \
		echo "Wrote $(DEV_ENV) (DEBUG=true, a fresh SECRET_KEY)."; \
	fi

run: $(STAMP) $(DEV_ENV)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo
	$(PY) manage.py bootstrap_admin
	@echo "Starting web, Celery worker and beat. Ctrl-C stops everything."
	@echo "Open http://127.0.0.1:8000/ (the customers' front door) or http://127.0.0.1:8000/admin/"
	$(BIN)/honcho -e $(DEV_ENV) -f Procfile.dev start  # not honcho's default .env: compose's

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

# Klantbeeld as deployed: built by deploy/build.sh into a fresh directory, started as
# docker-compose.yml starts it (production settings, gunicorn, worker, beat) on this
# machine's PostgreSQL and Redis, and driven from outside (e2e/). Needs /usr/bin/chromium.
e2e: $(STAMP)
	$(BIN)/pytest -c e2e/pytest.ini e2e $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The lock files, from pyproject.toml: the image's (production) and the developer's and
# CI's (dev, held to the same versions). After changing a dependency: `make lock`; to take
# newer releases within pyproject's ranges: `make lock UPGRADE=--upgrade`.
LOCK := $(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes --python-version 3.11 --python-platform linux $(UPGRADE)
lock: $(STAMP)
	$(LOCK) -o requirements/production.txt
	$(LOCK) --extra dev -c requirements/production.txt -o requirements/dev.txt

bench: $(STAMP)
	$(PY) -m bench

messages: $(STAMP)
	ENV_FILE= DEBUG=true $(PY) manage.py makemessages -l nl --no-location --ignore=.venv --ignore=bench --ignore=tests --ignore=var
	ENV_FILE= DEBUG=true $(PY) manage.py compilemessages -l nl --ignore=.venv
