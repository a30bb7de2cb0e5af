"""The shape of the package: a curated public API, and arrows pointing one way."""

import subprocess
import sys

import roost


def test_public_api_names_exist():
    for name in roost.__all__:
        assert hasattr(roost, name), name


def test_library_does_not_import_the_edges():
    code = (
        "import sys, roost, roost.data.ingest, roost.store, roost.embed, roost.data.datasets;"
        "bad = [m for m in ('fastapi', 'roost.cli', 'roost.service', 'torch') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
