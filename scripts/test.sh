#!/usr/bin/env bash
# The test command: set up (idempotent), lint, run the whole test suite.
# Extra arguments go to pytest, e.g. `scripts/test.sh tests/data -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check src tests bench
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
# pytest exits 5 when it collected no tests: count that as a failure.
if [ "$rc" -eq 5 ]; then echo "error: no tests were collected" >&2; exit 1; fi
exit "$rc"
