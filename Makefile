# Klantbeeld — the commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench install clean-local messages

# Create the virtual environment and install everything (again only when pyproject.toml changes).
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Klantbeeld needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# Local settings for `make run`: DEBUG on and a random secret key, written once.
.env:
	@$(PYTHON) -c 'import secrets; print("DEBUG=true\nSECRET_KEY=" + secrets.token_urlsafe(50))' > .env
	@echo "Wrote .env (DEBUG=true, a fresh SECRET_KEY)."

run: $(STAMP) .env
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo
	$(PY) manage.py bootstrap_admin
	@echo "Starting web (http://127.0.0.1:8000), Celery worker and beat. Ctrl-C stops everything."
	$(BIN)/honcho -f Procfile.dev start

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(PY) -m bench

messages: $(STAMP)
	ENV_FILE= DEBUG=true $(PY) manage.py makemessages -l nl --no-location --ignore=.venv --ignore=bench --ignore=tests --ignore=var
	ENV_FILE= DEBUG=true $(PY) manage.py compilemessages -l nl --ignore=.venv
