"""How fast is helper's quantization on a real-sized tensor?

On one 4096 x 4096 float32 tensor, in one run, this times int8 quantization by helper (per
tensor, per channel, per group of 32), by the course's loop over rows, and by torchao's
``choose_qparams_affine`` + ``quantize_affine`` doing the same work, against a plain copy of the
tensor (the memory-bandwidth floor), and prints each as a ratio to the copy; then the clip
search of lesson L5-A per channel, as a ratio to one min/max quantization per channel.

    python benchmarks/bench_quantize.py   # or `make bench`, which runs every benchmark

A benchmark prints figures; it is not a test.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import torch

import helper
from course import torchao_bridge
from course.timing import run_times

SIDE = 4096
GROUP = 32
REPEATS = 15


def median_ms(function: Callable[[], object], repeats: int = REPEATS) -> float:
    """Median wall time of ``function()`` in milliseconds, after one warm-up call."""
    return 1000 * statistics.median(run_times({"call": function}, repeats)["call"])


def course_per_channel_loop(tensor: torch.Tensor) -> torch.Tensor:
    """The course's per-channel quantization: one scale per row, computed in a Python loop."""
    scale = torch.zeros(tensor.shape[0])
    for row in range(tensor.shape[0]):
        scale[row] = tensor[row].abs().max().item() / 127
    return helper.linear_q_with_scale_and_zero_point(tensor, scale.view(-1, 1), 0)


def torchao_cases(tensor: torch.Tensor) -> dict[str, Callable[[], object]]:
    """torchao's affine primitives (a pinned requirement of the course) on the same blocks."""

    def run(block: tuple[int, int]) -> torch.Tensor:
        scale, zero_point = torchao_bridge.choose_qparams_affine(
            tensor, torchao_bridge.MappingType.SYMMETRIC, block, torch.int8, -128, 127
        )
        return torchao_bridge.quantize_affine(
            tensor, block, scale, zero_point, torch.int8, -128, 127
        )

    return {
        "torchao per-channel": lambda: run((1, SIDE)),
        f"torchao per-group({GROUP})": lambda: run((1, GROUP)),
    }


def main() -> None:
    torch.manual_seed(0)
    tensor = torch.randn(SIDE, SIDE)
    cases: dict[str, Callable[[], object]] = {
        "copy (tensor.clone)": tensor.clone,
        "helper per-tensor": lambda: helper.linear_q_symmetric(tensor),
        "helper per-channel": lambda: helper.linear_q_symmetric_per_channel(tensor, dim=0),
        f"helper per-group({GROUP})": lambda: helper.linear_q_symmetric_per_group(tensor, GROUP),
        "course loop over rows": lambda: course_per_channel_loop(tensor),
        **torchao_cases(tensor),
    }
    times = {
        name: median_ms(function, 3 if "loop" in name else REPEATS)
        for name, function in cases.items()
    }
    copy = times["copy (tensor.clone)"]
    print(
        f"int8 quantization of a {SIDE}x{SIDE} float32 tensor, {torch.get_num_threads()} "
        f"threads, median of {REPEATS} runs"
    )
    print(f"{'':28} {'ms':>9} {'x copy':>8}")
    for name, ms in times.items():
        print(f"{name:28} {ms:9.1f} {ms / copy:8.2f}")
    for granularity, ours, theirs in [
        ("per-channel", "helper per-channel", "torchao per-channel"),
        (f"per-group({GROUP})", f"helper per-group({GROUP})", f"torchao per-group({GROUP})"),
    ]:
        verdict = f"{times[ours] / copy:.2f}x copy (target <= 3)"
        verdict += f", {times[theirs] / times[ours]:.2f}x faster than torchao (target >= 1.5)"
        print(f"{granularity}: {verdict}")
    # Lesson L5-A: the clip search tries every ratio of helper.CLIP_RATIOS per channel.
    block = helper.block_size_for(tensor.shape, "per-channel", dim=0)
    search = median_ms(lambda: helper.search_clip_ratio(tensor, block, torch.int8), 1)
    print(
        f"clip search per channel ({len(helper.CLIP_RATIOS)} ratios): {search:.0f} ms, "
        f"{search / times['helper per-channel']:.0f}x one min/max quantization per channel "
        f"({search / times['helper per-channel'] / len(helper.CLIP_RATIOS):.1f}x per ratio tried)"
    )


if __name__ == "__main__":
    main()
