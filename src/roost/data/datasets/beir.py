"""BEIR-format retrieval data (corpus.jsonl, queries.jsonl, qrels/*.tsv), from a user's path."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson
import pyarrow as pa

from roost.data.datasets.base import Dataset, DatasetLoader


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``{query_id: {doc_id: relevance}}`` from a BEIR qrels TSV (with header)."""
    out: dict[str, dict[str, int]] = {}
    with open(path, newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        next(reader, None)
        for row in reader:
            if len(row) >= 3:
                out.setdefault(row[0], {})[row[1]] = int(row[2])
    return out


class Beir(DatasetLoader):
    name = "beir"
    description = "BEIR-format retrieval set (e.g. SciFact): documents, queries and qrels"
    licence = "per dataset (SciFact: CC BY-NC 2.0): pass --path"

    def load(self, path: str | Path | None = None) -> Dataset:
        p = self._need(path, self.name, ("corpus.jsonl", "queries.jsonl"))
        ids, titles, texts = [], [], []
        with open(p / "corpus.jsonl", "rb") as f:
            for line in f:
                if line.strip():
                    d = orjson.loads(line)
                    ids.append(str(d["_id"]))
                    titles.append(d.get("title") or None)
                    texts.append(d.get("text") or None)
        queries = {}
        with open(p / "queries.jsonl", "rb") as f:
            for line in f:
                if line.strip():
                    d = orjson.loads(line)
                    queries[str(d["_id"])] = d["text"]
        qrels = {q.stem: read_qrels(q) for q in sorted((p / "qrels").glob("*.tsv"))}
        items = pa.table({"id": ids, "title": titles, "text": texts})
        return Dataset(self.name, items=items, extra={"path": str(p), "queries": queries, "qrels": qrels})
