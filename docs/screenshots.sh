#!/usr/bin/env bash
# Build the documentation site and screenshot pages in headless Chromium, to
# look at what readers see: code highlighting (Pygments, no CDN) and the top
# bar at a laptop's width. Needs mkdocs, pymdown-extensions and pygments (the
# tox "docs" environment's deps) and Debian's chromium (apt-get install chromium).
#
#   bash docs/screenshots.sh [OUT_DIR] [WIDTH]     # defaults: /tmp/victor-docs-shots 1280
#
# Then open OUT_DIR/*.png. The browser runs with networking features off, so a
# page that still needed a file from the internet would show it as missing.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/victor-docs-shots}
width=${2:-1280}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
    echo "error: no chromium found; install it (apt-get install chromium)" >&2
    exit 1
fi
site=$(mktemp -d)
profile=$(mktemp -d)
trap 'rm -rf "$site" "$profile"' EXIT
python -m mkdocs build --strict --quiet -f docs/mkdocs.yml -d "$site"
mkdir -p "$out"
for page in index getting-started execution hooks mcp; do
    file="$site/$page/index.html"
    [ "$page" = index ] && file="$site/index.html"
    [ -f "$file" ] || continue
    "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
        --user-data-dir="$profile" --window-size="$width,900" \
        --screenshot="$out/$page.png" "file://$file" >/dev/null 2>&1
    echo "$out/$page.png"
done
