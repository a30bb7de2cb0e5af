"""The CLI through its entry point (in-process) and as a real console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from roost.cli import main


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_init_ingest_stats(tmp_path, capsys):
    home = str(tmp_path / "h")
    assert run(capsys, "--home", home, "init")[0] == 0
    (tmp_path / "items.csv").write_text("id,title\na,A\nb,B\n")
    (tmp_path / "r.csv").write_text("uid,iid,stars,when\nu1,a,4,10\nu2,b,5,11\n")
    code, out, _ = run(capsys, "--home", home, "ingest", "items", str(tmp_path / "items.csv"), "--json")
    assert code == 0 and json.loads(out)["stored"] == 2
    code, out, _ = run(
        capsys, "--home", home, "ingest", "events", str(tmp_path / "r.csv"), "--kind", "rating",
        "--map", "user_id=uid", "--map", "item_id=iid", "--map", "value=stars", "--map", "ts=when",
    )
    assert code == 0 and "2 new" in out
    code, out, _ = run(capsys, "--home", home, "stats", "--json")
    stats = json.loads(out)
    assert (stats["items"], stats["users"], stats["events"], stats["follows"]) == (2, 2, 2, 0)
    assert stats["sample_user"] in ("u1", "u2")


def test_user_error_is_one_line_and_nonzero(tmp_path, capsys):
    (tmp_path / "bad.csv").write_text("id,title\n,A\n")
    code, _, err = run(capsys, "--home", str(tmp_path / "h"), "ingest", "items", str(tmp_path / "bad.csv"))
    assert code == 1
    assert err.startswith("error: ") and "line 2, field 'id': missing value" in err
    assert "Traceback" not in err


def test_skip_mode_writes_rejects_into_the_home(tmp_path, capsys):
    (tmp_path / "items.csv").write_text("id,title\na,A\n,B\n")
    code, out, _ = run(capsys, "--home", str(tmp_path / "h"), "ingest", "items", str(tmp_path / "items.csv"), "--on-error", "skip", "--json")
    report = json.loads(out)
    assert code == 0 and report["rejected"] == 1
    assert Path(report["rejects_path"]).parent == tmp_path / "h" / "rejects"


def test_stats_without_a_home_says_so(tmp_path, capsys):
    code, _, err = run(capsys, "--home", str(tmp_path / "none"), "stats")
    assert code == 1 and "roost init" in err


def test_bad_map_and_datasets(tmp_path, capsys):
    (tmp_path / "i.csv").write_text("id\na\n")
    code, _, err = run(capsys, "--home", str(tmp_path / "h"), "ingest", "items", str(tmp_path / "i.csv"), "--map", "oops")
    assert code == 1 and "expected ROOST_COLUMN=FILE_COLUMN" in err
    code, out, _ = run(capsys, "datasets", "--json")
    assert code == 0 and "movietweetings" in {d["name"] for d in json.loads(out)}


@pytest.mark.slow
def test_demo_no_serve_json(tmp_path, capsys):
    code, out, _ = run(capsys, "--home", str(tmp_path / "h"), "demo", "--no-serve", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["stats"]["events"] == 100_000
    assert {"text", "collab"} <= set(doc["build"]["versions"]) and "item2vec" in doc["build"]
    assert "popularity" in {r["method"] for r in doc["evaluation"]["leaderboard"]}
    recs = doc["recommendations"]["items"]
    assert len(recs) == 5 and all(r["why"] for r in recs)
    # a second run stores nothing new and reuses the fitted versions
    code, out, _ = run(capsys, "--home", str(tmp_path / "h"), "demo", "--no-serve", "--json")
    doc2 = json.loads(out)
    assert code == 0 and set(doc2["build"]["reused"]) == {"text", "collab", "item2vec"}
    assert all(r["stored"] == 0 for r in doc2["ingest"])


def test_console_script_exit_codes(tmp_path):
    exe = Path(sys.executable).parent / "roost"
    ok = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "ingest" in ok.stdout
    bad = subprocess.run([str(exe), "--home", str(tmp_path / "x"), "stats"], capture_output=True, text=True)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    usage = subprocess.run([str(exe), "ingest", "nonsense", "f.csv"], capture_output=True, text=True)
    assert usage.returncode == 2
