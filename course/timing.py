"""Running on one torch thread, and timing a call: what the widgets' computes, the digits
network's training, lesson L7-A's measurements and the benchmarks share. Nothing of
quantization, and nothing of ours: a shared module, which the core and the other shared modules
may import."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import torch


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one torch thread, and give torch back its threads after it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def run_times(function: Callable[[], object], repeats: int) -> list[float]:
    """The wall time of ``function()`` in seconds, ``repeats`` times, after one warm-up call."""
    function()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return seconds
