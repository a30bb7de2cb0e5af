"""`roost serve --workers 2` on one home, on each backend: a real server, two processes
behind one port. A write accepted by one worker is in the other's next answer; a worker
killed with SIGKILL under load loses no acknowledged event and the other keeps serving."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from flutter_home import copy

from roost.service import KeyStore, ServiceSettings
from roost.store import open_store

SERVE = "import sys; from roost.cli import main; sys.exit(main(sys.argv[1:]))"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``roost serve --workers 2`` in a subprocess; connections pinned to one worker."""

    def __init__(self, home: Path, key: str):
        self.port = _port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.headers = {"X-API-Key": key}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVE, "--home", str(home), "serve", "--port", str(self.port),
             "--workers", "2"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "ROOST_PROGRESS": "off"},
        )  # fmt: skip

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers=self.headers, timeout=60)

    def pinned(self, worker: int | None = None, other_than: int | None = None) -> tuple[httpx.Client, int]:
        """A keep-alive connection to ``worker`` (or to any worker but ``other_than``)."""
        for _ in range(200):
            c = self.client()
            try:
                pid = c.get("/health/live").json()["worker"]
            except httpx.TransportError:
                c.close()
                time.sleep(0.2)
                continue
            if (worker is None or pid == worker) and pid != other_than:
                return c, pid
            c.close()
        raise AssertionError(f"no connection reached worker {worker or 'other than ' + str(other_than)}")

    def wait_ready(self, timeout: float = 300) -> tuple[int, int]:
        """Both workers answer ready; returns their process ids."""
        seen: set[int] = set()
        deadline = time.monotonic() + timeout
        while len(seen) < 2:
            assert self.proc.poll() is None, self.proc.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "the workers did not get ready"
            try:
                with self.client() as c:
                    r = c.get("/health/ready")
                if r.status_code == 200:
                    seen.add(r.json()["worker"])
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        return tuple(sorted(seen))

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stderr.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request, template, tmp_path_factory):
    """One server per backend for the module (its start is most of the time): the write
    test runs first, then the kill test."""
    home = copy(template, tmp_path_factory.mktemp("workers") / "home")
    if request.param == "postgresql":
        from roost.store.home import Home
        from roost.store.migrate import copy_home

        copy_home(Home.at(home), request.getfixturevalue("pg_server").new_database())
    keys = KeyStore(ServiceSettings.from_env(home).key_records())
    server = Server(home, keys.create("admin", name="test")[0])
    try:
        server.workers = server.wait_ready()
        server.home = home
        yield server
    finally:
        server.stop()


def _items(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [i["id"] for i in r.json()["items"]]


def test_a_write_through_one_worker_is_in_the_others_next_answer(served):
    a, pid_a = served.pinned(served.workers[0])
    b, _ = served.pinned(other_than=pid_a)
    try:
        _a_write_is_seen_by_the_other(a, b)
    finally:
        a.close()
        b.close()


def _a_write_is_seen_by_the_other(a: httpx.Client, b: httpx.Client) -> None:
    shown = _items(b.get("/recommend/wren", params={"k": 5}))  # B caches this answer
    liked = shown[0]
    r = a.post("/events", json={"events": [{"user_id": "wren", "item_id": liked, "kind": "like"}]},
               headers={"Idempotency-Key": "like-1"})
    assert r.status_code == 201, r.text
    # the very next answer of B: the seen filter drops the liked item, the cache is not used
    assert liked not in _items(b.get("/recommend/wren", params={"k": 5}))
    assert liked in _items(b.get("/users/wren/history"))
    # a new item through A is known to B's next request; deleted through A, gone from B
    r = a.post("/items", json={"id": "song-new", "title": "a new dawn chorus", "category": "song"})
    assert r.status_code == 201, r.text
    assert b.get("/similar/song-new").status_code == 200
    found = {"q": "a new dawn chorus", "k": 3, "mode": "lexical"}
    assert "song-new" in _items(b.get("/search", params=found))
    assert a.delete("/items/song-new").status_code == 204
    assert "song-new" not in _items(b.get("/search", params=found))


def test_a_killed_worker_loses_no_acknowledged_event(served):
    acked: list[str] = []
    after_kill = {"ok": 0}
    killed = threading.Event()
    stop = threading.Event()
    lock = threading.Lock()

    def load(n: int) -> None:
        i = 0
        c = served.client()
        while not stop.is_set():
            i += 1
            eid = f"load-{n}-{i}"
            try:
                r = c.post("/events", headers={"Idempotency-Key": eid}, json={"events": [
                    {"user_id": f"bird{n}", "item_id": "song-1", "kind": "view", "event_id": eid}]})
            except httpx.TransportError:  # the worker died with this request: not acknowledged
                c.close()
                c = served.client()
                continue
            if r.status_code == 201:
                with lock:
                    acked.append(eid)
                    after_kill["ok"] += killed.is_set()
            if i % 5 == 0:  # new connections, so both workers take load
                c.close()
                c = served.client()
        c.close()

    threads = [threading.Thread(target=load, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    victim = served.workers[0]
    try:
        deadline = time.monotonic() + 120
        while len(acked) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(acked) >= 40, "the workers acknowledged too few events before the kill"
        os.kill(victim, signal.SIGKILL)
        killed.set()
        deadline = time.monotonic() + 120
        while after_kill["ok"] < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert after_kill["ok"] >= 40, "the surviving worker stopped serving"
    c, pid = served.pinned(other_than=victim)
    assert c.get("/recommend/wren").status_code == 200
    c.close()
    with open_store(served.home) as s:
        stored = set(s.read("events").column("event_id").to_pylist())
    assert set(acked) <= stored, f"{len(set(acked) - stored)} acknowledged events were lost"
