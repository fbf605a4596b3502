"""Lesson L7-A's targets: torch's packed int8 and int4 CPU kernels (``helper.pack_linear``)
against fp32 and dequantize-then-matmul, and the language model with and without the KV cache.

    python benchmarks/bench_fast_inference.py              # the figures, printed
    python benchmarks/bench_fast_inference.py --repeats 5  # fewer repeats, faster

It prints measurements against the issue's targets and asserts nothing: timings depend on the
machine and its load, which it prints (the load average before and after). Everything runs on
one torch thread. The ways compared run in interleaved rounds (``l7a.time_interleaved``: each
round calls every way once), so a change of load falls on all of them alike; each figure is a
median over the rounds with its spread (slowest minus fastest), and each ratio is the median of
the rounds' ratios, ± half their spread (a target missed by less than that is called within the
noise), and, beside it, the ratio of the two ways' fastest runs, which the load disturbs least.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import NamedTuple

import torch

import helper
from course import language_model, texts
from course.lessons import l7a

SIZE = 4096
LAYER_TARGET, CACHE_TARGET, PACKED_TARGET = 2.5, 5.0, 1.0
PROMPT_BYTES, N_BYTES = 24, 100  # 124 bytes: within the 128-byte window, so the cache is used


class Ratio(NamedTuple):
    """How many times faster one way is than another: round by round (the median and spread of
    the rounds' ratios), and between the two fastest runs (the least disturbed by the load)."""

    rounds: l7a.Timing
    fastest: float


def ratio(slower: Sequence[float], faster: Sequence[float]) -> Ratio:
    """``slower`` over ``faster`` (each way's milliseconds, run by run, in the same rounds)."""
    rounds = l7a.Timing.of([a / b for a, b in zip(slower, faster, strict=True)])
    return Ratio(rounds, min(slower) / min(faster))


def verdict(speed: Ratio, target: float) -> str:
    """Whether ``speed`` meets ``target``, with its noise: half the spread of its rounds."""
    median, noise = speed.rounds.ms, speed.rounds.spread / 2
    shown = (
        f"{median:5.2f}x ± {noise:4.2f}, fastest runs {speed.fastest:5.2f}x (target >= {target}x: "
    )
    if median >= target:
        return shown + "met)"
    if median + noise >= target:
        return shown + "within the noise)"
    return shown + "NOT met)"


def load() -> str:
    return "load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_layers(repeats: int) -> None:
    """The 4096 x 4096 layer at batch 1, each way, in interleaved rounds: each call finds its
    weights pushed out of the caches by the other ways' calls, as in a model larger than the
    caches. Then the packed kernels and fp32 called in a row, for comparison."""
    layer = l7a.square_layer(SIZE)
    x = torch.randn(1, SIZE, generator=torch.Generator().manual_seed(0))
    modules = {"fp32 nn.Linear": layer}
    for bits in (8, 4):
        ways = l7a.layer_ways(layer, bits)
        modules[f"{bits}-bit dequantize-then-matmul"] = ways["dequantize-then-matmul"]
        modules[f"{bits}-bit packed kernel"] = ways["packed kernel"]
    runs = l7a.time_interleaved({k: lambda m=m: m(x) for k, m in modules.items()}, repeats)
    print(f"A {SIZE} x {SIZE} layer at batch 1, one thread, {repeats} interleaved rounds")
    print(f"  {'way':32} {'MB read':>8} {'ms per call':>18} {'GB/s':>6}  against fp32")
    for label, module in modules.items():
        timing = l7a.Timing.of(runs[label])
        n_bytes = helper.model_bytes(module)
        speed = ratio(runs["fp32 nn.Linear"], runs[label])
        against = verdict(speed, LAYER_TARGET) if "packed" in label else f"{speed.rounds.ms:5.2f}x"
        print(
            f"  {label:32} {n_bytes / 1e6:8.2f} {timing.ms:9.3f} ± {timing.spread / 2:6.3f} "
            f"{n_bytes / timing.ms / 1e6:6.1f}  {against}"
        )
    print(
        f"  Each way called {repeats} times in a row instead: weights that fit in the processor's "
        "caches stay there between calls"
    )
    fp32 = l7a.time_call(lambda: layer(x), repeats)
    for label, module in modules.items():
        if "packed" in label:
            timing = l7a.time_call(lambda m=module: m(x), repeats)
            print(
                f"  {label:32} {timing.ms:18.3f} ± {timing.spread / 2:6.3f}   against fp32 "
                f"({fp32.ms:.3f} ms) {fp32.ms / timing.ms:5.2f}x"
            )


def bench_generation(repeats: int) -> None:
    """The language model's bytes/s at fp32, dequantized 8-bit, packed 8-bit and 4-bit, without
    and with the cache, in interleaved rounds."""
    model = language_model.load()
    prompt = texts.read_text("eval")[:PROMPT_BYTES].decode()
    models = {
        "fp32": model,
        "dequantize 8-bit per channel": helper.quantize_model(model, 8, "per-channel"),
        "packed 8-bit per channel": helper.pack_model(model, 8),
        "packed 4-bit groups of 32": helper.pack_model(model, 4),
    }
    speeds = l7a.time_generation(models, prompt, N_BYTES, repeats)
    print(
        f"\nThe language model: {N_BYTES} greedy bytes after a {PROMPT_BYTES}-byte prompt, one "
        f"thread, {repeats} interleaved rounds"
    )
    print("  " + l7a.generation_table(speeds).replace("\n", "\n  "))
    runs = {(s.label, s.cache): s.runs for s in speeds}
    print("  bytes/s with the cache against without it:")
    for label in models:
        speed = ratio(runs[label, False], runs[label, True])
        print(f"    {label:30} {verdict(speed, CACHE_TARGET)}")
    print("  bytes/s of the packed model against fp32:")
    for cache in (False, True):
        for label in ("packed 8-bit per channel", "packed 4-bit groups of 32"):
            speed = ratio(runs["fp32", cache], runs[label, cache])
            way = "cached" if cache else "uncached"
            print(f"    {label + ', ' + way:38} {verdict(speed, PACKED_TARGET)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, CPU kernels: {torch.backends.cpu.get_cpu_capability()}")
    print(f"{load()}; {os.cpu_count()} cores")
    bandwidth = l7a.time_bandwidth(repeats=args.repeats)
    print(f"read bandwidth, one thread: {bandwidth / 1e9:.1f} GB/s\n")
    bench_layers(args.repeats)
    bench_generation(max(5, args.repeats // 2))
    print(f"\n{load()}")


if __name__ == "__main__":
    main()
