"""Torch's process-wide state (RNG, thread count, deterministic mode) set for one block.

Every method that runs torch (two-tower, fine-tuning, the sentence-transformers backend)
changes torch's global state only inside :func:`torch_state`, which restores the caller's
afterwards, also when the block (or setting the state itself) raises. A fit that leaves a
seed or a thread count behind changes what later code in the process computes and how fast,
and makes results depend on what ran before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def torch_state(
    seed: int | None = None, n_threads: int | None = None, deterministic: bool = False
) -> Iterator[None]:
    """Run a block with torch seeded (``seed``), on ``n_threads`` intra-op threads, and
    with deterministic algorithms when asked; the caller's RNG, thread count and
    deterministic mode (with its warn-only flag) are restored on the way out.

    ``None`` (or 0 threads) leaves that part as the caller has it.

    Examples
    --------
    >>> import torch
    >>> before = torch.get_rng_state()
    >>> with torch_state(seed=0, n_threads=1):
    ...     _ = torch.rand(3)
    >>> torch.equal(torch.get_rng_state(), before)
    True
    """
    import torch

    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        # Everything that changes global state happens inside the try: a refused thread
        # count must not leave deterministic mode switched on.
        try:
            if seed is not None:
                torch.manual_seed(seed)
            if deterministic:
                torch.use_deterministic_algorithms(True)
            if n_threads:
                torch.set_num_threads(n_threads)
            yield
        finally:
            torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
            torch.set_num_threads(prev_threads)
