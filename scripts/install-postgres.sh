#!/usr/bin/env bash
# Debian's PostgreSQL server binaries for the server-backend tests: scripts/pgserver.py runs
# a throwaway server from them (initdb + pg_ctl in a temporary folder, a free port), so no
# cluster is created or started by the package here. Safe to re-run.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then exit 0; fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
ls /usr/lib/postgresql/*/bin/initdb
