#!/usr/bin/env bash
# Set up a development environment in .venv: Roost with every extra, and the test tools.
# Safe to re-run. torch comes from its CPU build (torch==2.13.0) so that no CUDA is pulled.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[all,torch,dev]"
echo "Roost installed in .venv ($(.venv/bin/roost --help >/dev/null && echo ok))"
