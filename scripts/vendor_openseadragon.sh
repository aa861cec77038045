#!/usr/bin/env bash
# Vendor OpenSeadragon (BSD-3-Clause) from its npm package into the viewer's static files, so that
# `radpath serve` fetches nothing from a CDN at run time. Re-run to update: VERSION=6.1.1 scripts/vendor_openseadragon.sh
set -euo pipefail
VERSION="${VERSION:-6.1.1}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$HERE/src/radpath/viewer/static/vendor/openseadragon"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "openseadragon@$VERSION" >/dev/null && tar xzf "openseadragon-$VERSION.tgz")
rm -rf "$DEST"
mkdir -p "$DEST/images"
# the source map is not shipped: drop the comment pointing at it (a 404 in the browser otherwise)
sed '/sourceMappingURL=/d' "$WORK/package/build/openseadragon/openseadragon.min.js" > "$DEST/openseadragon.min.js"
cp "$WORK/package/build/openseadragon/images/"*.png "$DEST/images/"
cp "$WORK/package/LICENSE.txt" "$DEST/LICENSE.txt"
printf 'openseadragon %s from npm (npm pack openseadragon@%s), build/openseadragon/openseadragon.min.js and images/\n' \
  "$VERSION" "$VERSION" > "$DEST/VERSION"
echo "vendored openseadragon $VERSION into $DEST"
