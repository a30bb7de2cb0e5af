"""Commands that query the engine leave their timings in the home for `roost stats --latency`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "recommend"))

from boards import make_home  # noqa: E402

from roost.cli import main  # noqa: E402


def test_recommend_and_similar_timings_reach_stats_latency(tmp_path, capsys):
    home = str(make_home(tmp_path / "home"))
    assert main(["--home", home, "stats", "--latency", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {}  # nothing timed yet
    assert main(["--home", home, "recommend", "u1", "--k", "3"]) == 0
    assert main(["--home", home, "recommend", "u2", "--k", "3"]) == 0
    assert main(["--home", home, "similar", "b2", "--k", "2"]) == 0
    capsys.readouterr()
    assert main(["--home", home, "stats", "--latency", "--json"]) == 0
    snap = json.loads(capsys.readouterr().out)
    assert snap["recommend"]["count"] == 2 and snap["similar"]["count"] == 1
    assert all(snap["recommend"][q] >= 0 for q in ("p50", "p95", "p99"))
