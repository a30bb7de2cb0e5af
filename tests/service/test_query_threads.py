"""The query threads: answers and errors come back to the awaiting endpoint, and shutting
down finishes what is queued."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from roost.service.runtime import QueryThreads
from roost.types import RoostError


def test_answers_errors_and_threads():
    threads = QueryThreads(2)

    def where(x, *, y):
        return x + y, threading.current_thread().name

    def fails():
        raise RoostError("no such item 'x'")

    async def main():
        got = await asyncio.gather(*(threads.run(where, (i,), {"y": 1}) for i in range(20)))
        assert [v for v, _ in got] == list(range(1, 21))
        assert {name for _, name in got} <= {"roost-query-0", "roost-query-1"}
        with pytest.raises(RoostError, match="no such item"):
            await threads.run(fails, (), {})

    try:
        asyncio.run(main())
    finally:
        threads.shutdown()


def test_shutdown_finishes_what_is_queued():
    threads = QueryThreads(1)
    done = []

    async def main():
        loop_futures = [asyncio.ensure_future(threads.run(time.sleep, (0.01,), {}))
                        for _ in range(5)]  # fmt: skip
        await asyncio.sleep(0)  # queued, not awaited to the end
        return loop_futures

    async def queue_then_stop():
        futures = await main()
        await asyncio.to_thread(threads.shutdown)
        done.extend(await asyncio.gather(*futures))

    asyncio.run(queue_then_stop())
    assert done == [None] * 5
    assert not any(t.is_alive() for t in threads._threads)
