#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install the project with its dev and deploy extras from setup.py
# (deploy: the run launchers, whose instance configuration sync_pipeline_tests/test_deploy.py checks),
# and the browser of the UI test (scripts/browser.sh: Debian's chromium, when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

python=${1:-}
if [[ -z "$python" ]]; then
    python=$(command -v python3.11 || command -v python3 || true)
fi
if [[ -z "$python" ]] || ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: Python >= 3.11 is required (found: ${python:-none}); set PYTHON=/path/to/python3.11" >&2
    exit 1
fi
if [[ ! -x .venv/bin/python ]]; then
    echo "==> creating .venv with $python ($("$python" --version))" >&2
    "$python" -m venv .venv
fi
# Playwright (dev extra) launches Debian's chromium by path: never a browser download of its own.
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 .venv/bin/python -m pip install --quiet -e '.[dev,deploy]'
scripts/browser.sh
echo "==> .venv ready: $(.venv/bin/python --version), $(.venv/bin/dagster --version 2>/dev/null | head -1)" >&2
