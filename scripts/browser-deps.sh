#!/usr/bin/env bash
# Installs what the browser interop test (crates/liu/tests/browser.rs) needs, when missing:
#   - Debian's Chromium at /usr/bin/chromium (apt-get; Playwright's own browser download cannot
#     work on these machines, so the test drives the system Chromium with playwright-core);
#   - the npm packages pinned in tests/browser/package.json + package-lock.json (mpegts.js,
#     hls.js, playwright-core) into tests/browser/node_modules, with `npm ci`, only when node_modules is
#     missing or the lock file changed since the last install (stamp file in node_modules).
# Idempotent; exports nothing (the test finds everything at fixed repo-relative paths).
# Uses the preinstalled Node.js and npm: never installs Debian's nodejs/npm (they conflict).
# Exits non-zero with a message if anything is still missing afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BROWSER_DIR="$ROOT/tests/browser"
CHROMIUM=/usr/bin/chromium

die() { echo "scripts/browser-deps.sh: error: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "node is not on PATH (Node.js >= 20 is expected preinstalled)"
command -v npm >/dev/null 2>&1 || die "npm is not on PATH (it comes with the preinstalled Node.js)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js >= 20 needed, found $(node --version)"

# --- Chromium (Debian) ---
if [ ! -x "$CHROMIUM" ]; then
    echo "installing Debian package: chromium"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >/dev/null || die "apt-get update failed"
    # Only chromium (+ its hard dependencies): never nodejs/npm. No fonts are needed to decode video.
    $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null \
        || die "apt-get install chromium failed"
fi
[ -x "$CHROMIUM" ] || die "$CHROMIUM is missing after installation"
# The Debian wrapper script prints a harmless shell warning on stderr on some machines; keep stdout.
chromium_version=$("$CHROMIUM" --version 2>/dev/null | head -n1 || true)
[ -n "$chromium_version" ] || die "$CHROMIUM --version printed nothing: the browser does not start"

# --- npm packages (exact versions from the committed lock file) ---
[ -f "$BROWSER_DIR/package.json" ] || die "tests/browser/package.json is missing"
[ -f "$BROWSER_DIR/package-lock.json" ] || die "tests/browser/package-lock.json is missing"
STAMP="$BROWSER_DIR/node_modules/.liu-deps-stamp"
want_stamp=$(cat "$BROWSER_DIR/package.json" "$BROWSER_DIR/package-lock.json" | sha256sum | cut -d' ' -f1)
have_stamp=$(cat "$STAMP" 2>/dev/null || true)
if [ "$want_stamp" != "$have_stamp" ] \
    || [ ! -f "$BROWSER_DIR/node_modules/mpegts.js/dist/mpegts.js" ] \
    || [ ! -f "$BROWSER_DIR/node_modules/hls.js/dist/hls.min.js" ] \
    || [ ! -f "$BROWSER_DIR/node_modules/playwright-core/package.json" ]; then
    echo "installing npm packages of tests/browser (npm ci)"
    (cd "$BROWSER_DIR" && npm ci --no-audit --no-fund --loglevel=error) \
        || die "npm ci in tests/browser failed"
    echo "$want_stamp" > "$STAMP"
fi

for f in node_modules/mpegts.js/dist/mpegts.js node_modules/hls.js/dist/hls.min.js \
    node_modules/playwright-core/package.json; do
    [ -f "$BROWSER_DIR/$f" ] || die "tests/browser/$f is missing after npm ci"
done
mpegts_version=$(node -p 'require(process.argv[1]).version' "$BROWSER_DIR/node_modules/mpegts.js/package.json")
hlsjs_version=$(node -p 'require(process.argv[1]).version' "$BROWSER_DIR/node_modules/hls.js/package.json")
pw_version=$(node -p 'require(process.argv[1]).version' "$BROWSER_DIR/node_modules/playwright-core/package.json")
echo "browser test deps: $chromium_version, mpegts.js $mpegts_version, hls.js $hlsjs_version, playwright-core $pw_version, node $(node --version)"
