"""Crash safety: a publish killed at any point leaves the store on the old version.

Also: leftovers of crashed publishes are swept at open (but never a live publisher's
folder), and concurrent readers see whole versions only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from roost.store.publish import folder_lock
from roost.store.versions import VersionStore
from roost.types import EmbeddingSet


def make_set(n, dim, seed, prefix="i") -> EmbeddingSet:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    ids = np.array([f"{prefix}{j}" for j in range(n)], dtype=object)
    return EmbeddingSet(ids=ids, vectors=x, method="als", params={}, fingerprint=f"d{seed}")


_PUBLISH = r"""
import sys
import numpy as np
from roost.store.versions import VersionStore
from roost.types import EmbeddingSet

home, n = sys.argv[1], int(sys.argv[2])
x = np.random.default_rng(7).random((n, 64), dtype=np.float32) + 0.01
ids = np.array([f"big{i}" for i in range(n)], dtype=object)
es = EmbeddingSet(ids=ids, vectors=x, method="big", params={}, fingerprint="big")
vs = VersionStore(home)
print("ready", flush=True)
vs.put(es, users=es, alias="production")
print("done", flush=True)
"""
_ROWS = 100_000


def _publish(home, kill_when=None, rows=_ROWS) -> tuple[float, bool]:
    """Run a big publish in a subprocess; SIGKILL it as soon as ``kill_when()`` holds.

    Returns the seconds from "ready" to the end and whether the publish finished.
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", _PUBLISH, str(home), str(rows)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout.readline().strip() == "ready"
    t0 = time.perf_counter()
    while kill_when is not None and proc.poll() is None:
        if kill_when(t0):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.001)
    proc.wait()
    elapsed = time.perf_counter() - t0
    done = "done" in proc.stdout.read()
    proc.stdout.close()
    return elapsed, done


def _tmp_holds(home, name):
    def seen(_t0):
        return any((p / name).exists() for p in (home / "versions").glob(".tmp-*"))
    return seen


def _check_after_crash(home, old: str, old_vectors: np.ndarray, rows: int = _ROWS) -> bool:
    """The store opens whole; returns True when it is still on the old version."""
    with VersionStore(home) as vs:
        listed = [i.id for i in vs.list()]
        assert listed[0] == old and len(listed) in (1, 2)
        left = sorted(p.name for p in vs.dir.iterdir() if p.name != ".lock")
        assert left == sorted(listed), "a leftover survived the sweep at open"
        assert vs.verify() == []
        prod = vs.get("production", verify=True)
        if len(listed) == 1:
            assert prod.id == old
            np.testing.assert_array_equal(prod.vectors, old_vectors)
        else:  # the commit happened: the new version is whole and aliased in one step
            assert prod.id == listed[1] and len(prod) == rows and len(prod.users) == rows
        assert vs.get(old, verify=True).ids[0] == "i0"
        return len(listed) == 1


def _kill_trials(new_home, make_conditions, backend="sqlite") -> tuple[int, int]:
    """Kill publishes; returns (trials that stayed on the old version, trials with leftovers).
    Each trial is a new home on ``backend`` holding the old version as ``production``."""
    old_set = make_set(100, 64, 1)
    stayed_old = leftovers = 0
    for i, condition in enumerate(make_conditions):
        home = new_home(backend, f"trial{i}")
        with VersionStore(home) as vs:
            old = vs.put(old_set, alias="production").id
        _publish(home, condition(home))
        leftovers += any(p.name.startswith(".tmp-") for p in (home / "versions").iterdir())
        stayed_old += _check_after_crash(home, old, old_set.vectors)
    return stayed_old, leftovers


def test_sigkill_mid_publish_keeps_the_old_version(new_home, backend):
    # Killed while validating, as soon as the temporary folder exists, and once the
    # user vectors are being written: each time the old version must be what opens.
    stayed_old, leftovers = _kill_trials(new_home, [
        lambda home: (lambda t0: True),
        lambda home: _tmp_holds(home, "vectors.npy"),
        lambda home: _tmp_holds(home, "users.npy"),
    ], backend)
    # every kill came before the commit; two left half-written folders, swept at open
    assert stayed_old == 3 and leftovers >= 2


@pytest.mark.slow
def test_sigkill_at_many_random_points(tmp_path, new_home):
    home = tmp_path / "calibrate"
    with VersionStore(home) as vs:
        vs.put(make_set(100, 64, 1), alias="production")
    seconds, done = _publish(home)  # how long a whole publish takes here
    assert done
    delays = np.random.default_rng(0).uniform(0.0, 1.2 * seconds, size=12)
    stayed_old, leftovers = _kill_trials(new_home, [
        lambda home, d=d: (lambda t0: time.perf_counter() - t0 >= d) for d in delays
    ] + [lambda home: _tmp_holds(home, "manifest.json")])
    assert stayed_old >= 1 and leftovers >= 1


def test_completed_publish_is_whole_and_aliased(tmp_path):
    home = tmp_path / "home"
    old_set = make_set(100, 64, 1)
    with VersionStore(home) as vs:
        old = vs.put(old_set, alias="production").id
    assert _publish(home, rows=2000)[1]
    assert not _check_after_crash(home, old, old_set.vectors, rows=2000)


def test_leftovers_are_swept_at_open(tmp_path):
    home = tmp_path / "home"
    with VersionStore(home) as vs:
        keep = vs.put(make_set(10, 4, 1)).id
        versions = vs.dir
    (versions / ".tmp-dead").mkdir()
    (versions / ".tmp-dead" / "vectors.npy").write_bytes(b"half")
    (versions / ".trash-old").mkdir()
    orphan = versions / "v0002-als-abcdef"  # renamed, but the row was never committed
    shutil.copytree(versions / keep, orphan)
    (versions / "notes").mkdir()  # not ours: left alone
    with VersionStore(home) as vs:
        assert sorted(p.name for p in versions.iterdir()) == sorted([".lock", keep, "notes"])
        assert vs.verify() == [] and [i.id for i in vs.list()] == [keep]
        # the number of the lost publish is free again: the catalog never saw it
        assert vs.put(make_set(10, 4, 2)).id.startswith("v0002-")


def test_live_publishers_folder_is_not_swept(tmp_path):
    home = tmp_path / "home"
    VersionStore(home).close()
    versions = home / "versions"
    with folder_lock(versions, exclusive=False):  # as a publisher in another process holds it
        (versions / ".tmp-live").mkdir()
        VersionStore(home).close()
        assert (versions / ".tmp-live").exists()
    VersionStore(home).close()
    assert not (versions / ".tmp-live").exists()


def test_readers_see_whole_versions_during_publishes(tmp_path):
    home = tmp_path / "home"
    with VersionStore(home) as vs:
        vs.put(make_set(500, 32, 0), alias="production")
    errors: list[BaseException] = []
    stop = threading.Event()
    seen: set[str] = set()

    def read():
        with VersionStore(home) as reader:
            while not stop.is_set():
                try:
                    v = reader.get("production")
                    digest = hashlib.sha256(np.asarray(v.vectors).tobytes()).hexdigest()
                    assert digest == v.manifest["vectors_sha256"] and len(v) == v.manifest["count"]
                    seen.add(v.id)
                except BaseException as e:  # surfaced in the main thread below
                    errors.append(e)
                    return

    thread = threading.Thread(target=read)
    thread.start()
    with VersionStore(home) as writer:
        for seed in range(1, 8):
            writer.put(make_set(500 + seed * 100, 32, seed), alias="production")
            time.sleep(0.02)
    stop.set()
    thread.join()
    assert errors == []
    assert len(seen) >= 2


@pytest.mark.parametrize("ref", ["production", "v1"])
def test_reopen_after_clean_close_changes_nothing(tmp_path, ref):
    home = tmp_path / "home"
    with VersionStore(home) as vs:
        vs.put(make_set(10, 4, 1), alias="production")
    with VersionStore(home) as vs:
        assert vs.cleanup() == [] and vs.get(ref).id.startswith("v0001-")


def test_concurrent_publishers_get_distinct_whole_versions(tmp_path):
    home = tmp_path / "home"
    VersionStore(home).close()
    errors: list[BaseException] = []

    def publish(offset):
        try:
            with VersionStore(home) as vs:
                for seed in range(offset, offset + 4):
                    vs.put(make_set(200, 16, seed), alias=f"writer{offset}")
        except BaseException as e:  # surfaced in the main thread below
            errors.append(e)

    threads = [threading.Thread(target=publish, args=(k * 10,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with VersionStore(home) as vs:
        infos = vs.list()
        assert [i.seq for i in infos] == list(range(1, 9))
        assert len({i.id for i in infos}) == 8 and vs.verify() == []
        assert sorted(vs.aliases()) == ["writer0", "writer10"]


def test_two_first_opens_of_a_fresh_home_both_migrate(tmp_path):
    """A second process that read user_version before the first one migrated must not
    re-run the migrations once it gets the write lock."""
    from roost.store import sqlite as backend

    db = tmp_path / "roost.db"
    first, second = backend.connect(db), backend.connect(db)
    waiting = threading.Event()
    second.set_trace_callback(lambda sql: waiting.set() if sql.startswith("BEGIN") else None)
    first.execute("BEGIN IMMEDIATE")
    outcome: list[object] = []

    def open_second() -> None:
        try:
            outcome.append(backend.migrate(second))
        except Exception as e:  # noqa: BLE001 - the failure is the result under test
            outcome.append(e)

    t = threading.Thread(target=open_second)
    t.start()
    assert waiting.wait(10)  # it has read user_version 0 and now waits for the lock
    for version, step in enumerate(backend.MIGRATIONS, start=1):
        if callable(step):
            step(first)
        else:
            for stmt in backend._statements(step):
                first.execute(stmt)
        first.execute(f"PRAGMA user_version = {version}")
    first.execute("COMMIT")
    t.join(20)
    assert outcome == [len(backend.MIGRATIONS)]
    first.close()
    second.close()
