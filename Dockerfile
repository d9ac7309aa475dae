# syntax=docker/dockerfile:1
# Klantbeeld: one image for the web server (gunicorn + whitenoise), the Celery worker and
# Celery beat. docker-compose.yml runs it with PostgreSQL and Redis; see .env.example.

# --- build: dependencies, the project, compiled translations, collected static files ----
FROM python:3.11-slim AS build

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

# gettext (msgfmt) for compilemessages; it stays in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# The one build (deploy/build.sh), which `make e2e` runs too. Dependencies first, from
# the lock file alone, so a source change does not reinstall them.
COPY requirements/production.txt requirements/
COPY deploy/build.sh deploy/
RUN deploy/build.sh /opt/venv deps

# Klantbeeld itself, compiled translations, collected static files (production
# settings, dummy values that stay in this step). .dockerignore keeps .env, .venv and
# var/ out.
COPY . .
RUN deploy/build.sh /opt/venv app

# --- runtime ---------------------------------------------------------------------------
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    ENV_FILE=

RUN groupadd --system --gid 10001 klantbeeld \
    && useradd --system --uid 10001 --gid klantbeeld --create-home --home-dir /home/klantbeeld klantbeeld

COPY --from=build /opt/venv /opt/venv
# Source and static files stay root-owned (read-only to the app); only var/ is writable.
COPY --from=build /app /app
RUN mkdir -p /app/var && chown klantbeeld:klantbeeld /app/var

WORKDIR /app
USER klantbeeld
EXPOSE 8000

CMD ["gunicorn", "--config", "deploy/gunicorn.conf.py", "config.wsgi:application"]
