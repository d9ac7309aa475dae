#!/bin/sh
# Update the vendored Chart.js (static/vendor/chartjs/) from the npm registry:
#
#   deploy/vendor-chartjs.sh 4.4.6
#
# Only dist/chart.umd.js and the licence are kept. The bundle's last line names a source
# map (`//# sourceMappingURL=chart.umd.js.map`) that is not shipped; collectstatic with
# the production settings refuses a file that points at a missing one, so the line goes.
# `make e2e` builds as the image does and fails on such a reference.
set -eu
VERSION=${1:?usage: $0 VERSION (e.g. 4.4.6)}
cd "$(dirname "$0")/.."
TARGET=static/vendor/chartjs
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

(cd "$WORK" && npm pack --silent "chart.js@$VERSION" >/dev/null)
tar -xzf "$WORK"/chart.js-"$VERSION".tgz -C "$WORK"
sed '/^\/\/# sourceMappingURL=/d' "$WORK/package/dist/chart.umd.js" >"$TARGET/chart.umd.js"
cp "$WORK/package/LICENSE.md" "$TARGET/LICENSE.md"
printf 'Chart.js %s (MIT), from the npm package chart.js, dist/chart.umd.js, without its\nsourceMappingURL line (the map is not shipped). Served as a static file: no CDN.\nUpdate with deploy/vendor-chartjs.sh VERSION, then run make e2e.\n' "$VERSION" >"$TARGET/README"
echo "Chart.js $VERSION is in $TARGET; run make e2e before committing."
