"""Lesson L7-A's targets: torch's packed int8 and int4 CPU kernels (``helper.pack_linear``)
against fp32 and dequantize-then-matmul, and the language model with and without the KV cache.

    python benchmarks/bench_fast_inference.py              # the figures, printed
    python benchmarks/bench_fast_inference.py --repeats 5  # fewer repeats, faster

It prints measurements against the issue's targets and asserts nothing: timings depend on the
machine and its load. Everything runs on one torch thread; each figure is a median over
``--repeats`` runs after a warm-up, with its spread (slowest minus fastest).
"""

from __future__ import annotations

import argparse

import torch

import helper
from course import language_model, texts
from course.lessons import l7a

SIZE = 4096
LAYER_TARGET, CACHE_TARGET = 2.5, 5.0
PROMPT_BYTES, N_BYTES = 24, 100  # 124 bytes: within the 128-byte window, so the cache is used


def bench_layers(repeats: int) -> None:
    """The 4096 x 4096 layer at batch 1, each way, side by side in one run."""
    layer = l7a.square_layer(SIZE)
    x = torch.randn(1, SIZE, generator=torch.Generator().manual_seed(0))
    rows = [("fp32 nn.Linear", layer)]
    for bits in (8, 4):
        ways = l7a.layer_ways(layer, bits)
        rows += [
            (f"{bits}-bit dequantize-then-matmul", ways["dequantize-then-matmul"]),
            (f"{bits}-bit packed kernel", ways["packed kernel"]),
        ]
    print(
        f"A {SIZE} x {SIZE} layer at batch 1, one thread, median of {repeats} (± half the spread)"
    )
    print(f"  {'way':32} {'MB read':>8} {'ms per call':>18} {'GB/s':>6} {'vs fp32':>8}  target")
    fp32_ms = None
    for label, module in rows:
        timing = l7a.time_call(lambda m=module: m(x), repeats)
        fp32_ms = fp32_ms or timing.ms
        n_bytes = helper.model_bytes(module)
        speed = fp32_ms / timing.ms
        target = ""
        if "packed" in label:
            verdict = "met" if speed >= LAYER_TARGET else "NOT met"
            target = f">= {LAYER_TARGET}x: {verdict}"
        print(
            f"  {label:32} {n_bytes / 1e6:8.2f} {timing.ms:9.3f} ± {timing.spread / 2:6.3f} "
            f"{n_bytes / timing.ms / 1e6:6.1f} {speed:7.2f}x  {target}"
        )


def bench_generation(repeats: int) -> None:
    """The language model's bytes/s at fp32, dequantized 8-bit, packed 8-bit and 4-bit, without
    and with the cache."""
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
        f"thread, median of {repeats}"
    )
    print("  " + l7a.generation_table(speeds).replace("\n", "\n  "))
    by = {(s.label, s.cache): s.bytes_per_second for s in speeds}
    fp32_cached = by["fp32", True]
    for label in models:
        ratio = by[label, True] / by[label, False]
        verdict = "met" if ratio >= CACHE_TARGET else "NOT met"
        print(f"  {label:30} cache / no cache {ratio:5.2f}x (target >= {CACHE_TARGET}x: {verdict})")
    for label in ("packed 8-bit per channel", "packed 4-bit groups of 32"):
        ratio = by[label, True] / fp32_cached
        verdict = "met" if ratio >= 1 else "NOT met"
        print(f"  {label:30} against fp32, both cached {ratio:5.2f}x (target >= 1x: {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, CPU kernels: {torch.backends.cpu.get_cpu_capability()}")
    bandwidth = l7a.time_bandwidth(repeats=args.repeats)
    print(f"read bandwidth, one thread: {bandwidth / 1e9:.1f} GB/s\n")
    bench_layers(args.repeats)
    bench_generation(max(3, args.repeats // 3))


if __name__ == "__main__":
    main()
