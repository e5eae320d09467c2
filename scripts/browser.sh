#!/usr/bin/env bash
# The headless browser of sync_pipeline_tests/test_browser_ui.py: Debian's `chromium` at
# /usr/bin/chromium, which Playwright launches by path (Playwright never downloads a browser here).
# Idempotent and quiet: returns at once when the browser is there. Installs it with apt-get when it
# is missing and we are root; otherwise says so and returns 0: the browser test then fails naming
# this script, unless SYNC_SKIP_BROWSER_TESTS=1 (the one opt-out, which this script honours too).
set -euo pipefail

CHROMIUM=${SYNC_CHROMIUM:-/usr/bin/chromium}

if [[ -x "$CHROMIUM" ]]; then
    exit 0
fi
if [[ "${SYNC_SKIP_BROWSER_TESTS:-0}" == 1 ]]; then
    echo "==> SYNC_SKIP_BROWSER_TESTS=1: not installing chromium; the browser test will be skipped" >&2
    exit 0
fi
if [[ "$CHROMIUM" != /usr/bin/chromium ]]; then
    echo "==> WARNING: SYNC_CHROMIUM=$CHROMIUM is not an executable: the browser test will fail" >&2
    exit 0
fi
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "==> WARNING: $CHROMIUM is missing and cannot be installed here (needs root and apt-get):" \
        "install Debian's chromium package, or set SYNC_SKIP_BROWSER_TESTS=1; the browser test will fail" >&2
    exit 0
fi

echo "==> installing Debian's chromium for the browser test (apt-get, once)" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt_install() { apt-get install -y -qq --no-install-recommends chromium >"$log" 2>&1; }
# A machine that never ran `apt-get update` may not know the package yet.
if ! apt_install; then
    if ! { apt-get update -qq >"$log" 2>&1 && apt_install; }; then
        tail -20 "$log" >&2
        echo "==> WARNING: apt-get could not install chromium: the browser test will fail" >&2
        exit 0
    fi
fi
echo "==> $("$CHROMIUM" --version 2>/dev/null || echo chromium) installed" >&2
