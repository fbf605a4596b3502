"""How long does GPTQ take, against round-to-nearest (lesson L6-B)?

Times ``helper.gptq_quantize`` on one 1024 x 1024 layer (its Hessian from 4096 correlated
inputs, computed once and not timed) against ``helper.quantize_weight_symmetric`` on the same
weights, and ``helper.gptq_quantize_model`` on the course's language model (32 calibration
windows of 128 bytes; its one calibration pass and the Hessians included) against
``helper.quantize_model``; 4 bits, per channel and in groups of 128. Prints milliseconds and
GPTQ's time as a ratio to round-to-nearest's.

    python benchmarks/bench_gptq.py   # or `make bench`, which runs every benchmark

A benchmark prints figures; it is not a test.
"""

from __future__ import annotations

import torch
from bench_quantize import median_ms  # run as a script: benchmarks/ is on the path

import helper
from course import language_model
from course.lessons import l6b

SIDE = 1024
SETTINGS = (("per-channel", None), ("per-group", 128))


def report(what: str, rtn_ms: float, gptq_ms: float) -> None:
    print(f"{what:44} {rtn_ms:10.1f} {gptq_ms:10.1f} {gptq_ms / rtn_ms:9.0f}x")


def main() -> None:
    # One thread, for both methods: GPTQ's column loop is thousands of small operations, which
    # two threads on a busy machine pass back and forth (the lesson runs on one thread too).
    torch.set_num_threads(1)
    torch.manual_seed(0)
    weight = torch.randn(SIDE, SIDE) / SIDE**0.5
    inputs = torch.randn(4096, SIDE) @ (torch.randn(SIDE, SIDE) / SIDE**0.5) + 0.1
    hessian = helper.hessian_from_inputs(inputs)
    try:
        model, which = language_model.load(), "trained"
    except FileNotFoundError:
        model, which = language_model.ByteTransformer().eval(), "untrained (no weights yet)"
    windows = l6b.calibration_windows(32, model.context_length)
    print("GPTQ against round-to-nearest, 4 bits, one thread, medians")
    print(f"{'':44} {'RTN ms':>10} {'GPTQ ms':>10} {'ratio':>10}")
    for granularity, group_size in SETTINGS:
        name = granularity if group_size is None else f"{granularity}({group_size})"
        args = (4, granularity, group_size)
        rtn = median_ms(lambda a=args: helper.quantize_weight_symmetric(weight, *a), 10)
        gptq = median_ms(lambda a=args: helper.gptq_quantize(weight, hessian, *a), 3)
        report(f"one {SIDE}x{SIDE} layer, {name}", rtn, gptq)
        rtn = median_ms(lambda a=args: helper.quantize_model(model, *a), 5)
        gptq = median_ms(lambda a=args: helper.gptq_quantize_model(model, windows, *a), 3)
        report(f"language model ({which}), {name}", rtn, gptq)


if __name__ == "__main__":
    main()
