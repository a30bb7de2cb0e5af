"""The latency history: each save that adds something appends one line of that interval's
quantiles per stage; read_history gives them back oldest first."""

from __future__ import annotations

from roost.monitor import latency
from roost.monitor.latency import LatencyRegistry, latency_path, read_history


def test_each_save_with_new_figures_appends_one_line(tmp_path):
    reg = LatencyRegistry()
    path = latency_path(tmp_path)
    assert read_history(tmp_path) == []
    reg.record("GET /recommend/{user}", 0.010)
    reg.save(path)
    reg.save(path)  # nothing new: no line
    for _ in range(3):
        reg.record("GET /recommend/{user}", 0.100)
    reg.save(path)
    lines = read_history(tmp_path)
    assert [line["stages"]["GET /recommend/{user}"]["count"] for line in lines] == [1, 3]
    assert 90 < lines[1]["stages"]["GET /recommend/{user}"]["p50"] < 110  # ms, this interval
    assert lines[0]["time"] <= lines[1]["time"]
    with open(path.with_name(latency.HISTORY_NAME), "a") as f:
        f.write("not json\n")
    assert len(read_history(tmp_path)) == 2  # a damaged line is skipped


def test_the_history_keeps_its_newest_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(latency, "HISTORY_BYTES", 2_000)
    reg = LatencyRegistry()
    for j in range(60):
        reg.record(f"stage{j % 3}", 0.001 * (j + 1))
        reg.save(latency_path(tmp_path))
    lines = read_history(tmp_path, last=1000)
    assert 0 < len(lines) < 60
    assert lines[-1]["stages"]["stage2"]["count"] == 1  # the newest is kept
    assert latency_path(tmp_path).with_name(latency.HISTORY_NAME).stat().st_size < 4_000
