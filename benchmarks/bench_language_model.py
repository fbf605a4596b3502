"""How fast does the course's language model write, in float32 and with quantized weights?

    python benchmarks/bench_language_model.py

Bytes per second of greedy generation at batch 1 (``course.language_model.generate``: one
forward pass over the last ``context_length`` bytes per new byte), for the fp32 model and for
its weights quantized to 8 bits per channel and 4 bits in groups of 32 (``QuantizedLinear``
dequantizes its weights on every call, so weight-only quantization saves memory, not time, on
a CPU). The median of several runs.
"""

from __future__ import annotations

import statistics
import time

import torch

from course import language_model
from course.lessons import l6a

N_BYTES = 64
RUNS = 5


def bytes_per_second(model: torch.nn.Module) -> float:
    """The median over ``RUNS`` runs of ``N_BYTES`` greedy bytes after ``def ``, in bytes/s."""
    seconds = []
    for _ in range(RUNS):
        start = time.perf_counter()
        language_model.generate(model, "def ", N_BYTES)
        seconds.append(time.perf_counter() - start)
    return N_BYTES / statistics.median(seconds)


def main() -> None:
    model = language_model.load()
    print(f"language model: greedy generation at batch 1, {N_BYTES} bytes, median of {RUNS} runs")
    for setting in (
        l6a.Setting(),
        l6a.Setting(8, "per-channel"),
        l6a.Setting(4, "per-group", 32),
    ):
        print(f"  {setting.label:18} {bytes_per_second(setting.apply(model)):7.1f} bytes/s")


if __name__ == "__main__":
    main()
