#!/bin/sh
# How Klantbeeld is built: the Dockerfile runs this script, and so does `make e2e`, so the
# image and the end-to-end check can never disagree about it.
#
#   deploy/build.sh VENV [deps|app|all]
#
#   deps  a virtual environment at VENV (made when missing) with the locked dependencies
#         (requirements/production.txt: pinned, hash-checked, no dev extras). Needs only
#         that file, so Docker caches the layer.
#   app   Klantbeeld itself into that environment (editable: the code runs from this
#         directory, where its templates, static files and translations are), compiled
#         translations, and the static files collected under staticfiles/ with the
#         production settings and their manifest.
#   all   both (the default).
#
# Run it from anywhere; it works in the directory that holds it (its parent). Django's
# steps see nothing of the caller's environment but PATH and HOME, so the build is the
# same on a developer's machine, in CI and in Docker; pip reads its own configuration
# (PIP_*, pip.conf) as it does everywhere.
set -eu

usage() { echo "usage: $0 VENV [deps|app|all]" >&2; exit 2; }
[ $# -ge 1 ] || usage
VENV=$1
STEP=${2:-all}
case $STEP in deps | app | all) ;; *) usage ;; esac
case $VENV in /*) ;; *) VENV=$PWD/$VENV ;; esac  # relative to the caller, not to the tree

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

# The production settings refuse to import without these. Dummy values, for this build
# only: nothing here connects to a database, a broker or a mail server.
build_env() {
  env -i PATH="$VENV/bin:$PATH" HOME="${HOME:-/tmp}" LANG=C.UTF-8 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    ENV_FILE= \
    SECRET_KEY=build-only-not-a-secret-but-long-enough-for-the-production-settings \
    SUPPRESSION_HASH_KEY=build-only \
    DATABASE_URL=postgres://build@build.invalid/build \
    SITE_URL=https://build.invalid \
    ALLOWED_HOSTS=build.invalid \
    SHOP_NAME=build \
    SHOP_ADDRESS=build \
    "$@"
}

deps() {
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  # Exactly the versions CI tested: the lock file, every file checked against its hash.
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    --require-hashes --no-deps -r requirements/production.txt
}

app() {
  command -v msgfmt >/dev/null || { echo "build: msgfmt (GNU gettext) is needed" >&2; exit 1; }
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e .
  mkdir -p var
  build_env python manage.py compilemessages --ignore 'node_modules' --verbosity 0
  # A static file that names one it does not ship (a source map, say) stops the build
  # here, not a customer's page in production.
  build_env python manage.py collectstatic --noinput --clear --verbosity 1
}

case $STEP in
  deps) deps ;;
  app) app ;;
  all) deps && app ;;
esac
