"""Running on one torch thread, and timing a call: what the widgets' computes, the digits
network's training, lesson L7-A's measurements and the benchmarks share. Nothing of
quantization, and nothing of ours: a shared module, which the core and the other shared modules
may import."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Hashable, Iterator
from typing import TypeVar

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


Key = TypeVar("Key", bound=Hashable)


def run_times(functions: dict[Key, Callable[[], object]], repeats: int) -> dict[Key, list[float]]:
    """The wall time in seconds of each run of each of ``functions``, in ``repeats`` rounds that
    call every function once in turn, after one warm-up call of each: a change in the machine's
    load falls on all of them alike, and run ``i`` of one compares with run ``i`` of another."""
    for function in functions.values():
        function()
    seconds: dict[Key, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            seconds[name].append(time.perf_counter() - start)
    return seconds
