from __future__ import annotations

from pathlib import Path

import pytest

from roost.data import datasets
from roost.data.errors import IngestError

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def test_bundled_movietweetings_loads_and_ingests(store):
    ds = datasets.load("movietweetings")
    assert ds.items.num_rows == 10_506 and ds.events.num_rows == 100_000
    first = {r["id"]: r for r in ds.items.slice(0, 3).to_pylist()}
    assert first["0002844"]["title"] == "Fantômas - À l'ombre de la guillotine"
    assert first["0002844"]["tags"] == ["Crime", "Drama"] and first["0002844"]["fields"] == '{"year": 1913}'
    reports = ds.ingest(store)
    assert [r.kind for r in reports] == ["items", "users", "events", "follows"]
    assert [reports[0].stored, *(r.stored for r in reports[2:])] == [10_506, 100_000, 24_278]
    assert [r.stored for r in ds.ingest(store)] == [0, 0, 0, 0]
    users = store.read("users")
    assert users.num_rows == 16_554 and users.column("name").null_count == 0
    assert set(store.read("events").column("kind").to_pylist()) == {"rating"}


def test_bundled_licence_and_citation_ship_with_the_data():
    root = datasets.REGISTRY["movietweetings"]().load().extra["path"]
    assert "MIT" in (Path(root) / "LICENSE").read_text()
    assert "Dooms" in (Path(root) / "README.md").read_text()


def test_unbundled_datasets_need_a_path(tmp_path):
    with pytest.raises(IngestError, match="pass --path"):
        datasets.load("ml-100k")
    with pytest.raises(IngestError, match="u.data"):
        datasets.load("ml-100k", tmp_path)


def test_movielens_format_from_a_small_copy(tmp_path):
    (tmp_path / "u.data").write_text("1\t10\t4\t881250949\n2\t10\t3\t881250950\n")
    flags = "|".join(["0"] * 8 + ["1"] + ["0"] * 10)
    (tmp_path / "u.item").write_text(f"10|Some Film (1995)|01-Jan-1995||http://x|{flags}\n")
    (tmp_path / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n")
    (tmp_path / "u1.base").write_text("1\t10\t4\t881250949\n")
    (tmp_path / "u1.test").write_text("2\t10\t3\t881250950\n")
    ds = datasets.load("ml-100k", tmp_path)
    assert ds.items.to_pylist()[0]["tags"] == ["Drama"]
    assert ds.extra["folds"] == ["u1"]
    from roost.data.splits import official_fold

    train, test = official_fold(tmp_path, "u1")
    assert (len(train), len(test)) == (1, 1) and train.user_ids is test.user_ids


def test_beir_format_from_a_small_copy(tmp_path):
    (tmp_path / "corpus.jsonl").write_text('{"_id": "d1", "title": "T", "text": "body"}\n')
    (tmp_path / "queries.jsonl").write_text('{"_id": "q1", "text": "what"}\n')
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    ds = datasets.load("beir", tmp_path)
    assert ds.extra["qrels"] == {"test": {"q1": {"d1": 1}}}
    assert ds.items.to_pylist()[0]["text"] == "body"


def test_folder_dataset(store, tmp_path):
    (tmp_path / "items.csv").write_text("id,title\na,A\n")
    (tmp_path / "events.jsonl").write_text('{"user_id": "u", "item_id": "a", "kind": "like", "ts": 1}\n')
    reports = datasets.ingest_folder(store, tmp_path)
    assert [r.kind for r in reports] == ["items", "events"]
    assert store.counts()["events"] == 1


@pytest.mark.skipif(not (SHARED / "ml-100k" / "u.data").exists(), reason="needs ../shared/data")
def test_real_movielens_when_present():
    ds = datasets.load("ml-100k", SHARED / "ml-100k")
    assert ds.events.num_rows == 100_000 and ds.items.num_rows == 1682
