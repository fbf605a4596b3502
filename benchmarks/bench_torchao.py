"""Speed of lesson L5-B's models: a layer quantized by ``helper`` and by torchao, at batch 1 and 16.

For a 4096 x 4096 linear layer (a real model's size) and for the course's digits MLP (64-128-64-10,
tiny), this times the forward pass of fp32 ``nn.Linear``, ``helper``'s ``QuantizedLinear`` (8 bits
per channel; 4 bits in groups of 32, packed) and torchao's three configs of the lesson, on a
batch of 1 and of 16 inputs, and prints each as a ratio to fp32.

    python benchmarks/bench_torchao.py             # the figures, printed
    python benchmarks/bench_torchao.py --repeats 5 # fewer repeats, faster

What the ratios mean on a CPU: a weight-only layer stores fewer bytes but still multiplies in
float, so unless a kernel fuses unpacking with the product it pays for turning its weights back
into float on every call; W8A8 multiplies integers, which pays only where an int8 kernel beats
the float one. A benchmark prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse

import torch
from bench_quantize import median_ms  # the benchmarks folder is on sys.path when run

import helper
from course import models, torchao_bridge

SIZE = 4096
BATCHES = (1, 16)


def variants(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """The lesson's six models of ``model``: fp32, two of helper's, three of torchao's."""
    return {
        "fp32": model,
        "helper 8-bit per channel": helper.quantize_model(model, 8, "per-channel"),
        "helper 4-bit groups of 32": helper.quantize_model(model, 4, "per-group", 32),
        "torchao int8 weight-only": torchao_bridge.quantized_copy(
            model, torchao_bridge.Int8WeightOnlyConfig()
        ),
        "torchao int4 groups of 32": torchao_bridge.quantized_copy(
            model,
            torchao_bridge.IntxWeightOnlyConfig(
                weight_dtype=torch.int4, granularity=torchao_bridge.PerGroup(32)
            ),
        ),
        "torchao int8 dynamic W8A8": torchao_bridge.quantized_copy(
            model, torchao_bridge.Int8DynamicActivationInt8WeightConfig()
        ),
    }


def bench(title: str, model: torch.nn.Module, inputs: int, repeats: int) -> None:
    """Print the forward time of each variant of ``model`` at each batch size, against fp32."""
    print(f"\n{title}")
    print(f"  {'':28}" + "".join(f"{f'batch {b}':>24}" for b in BATCHES))
    generator = torch.Generator().manual_seed(0)
    batches = {b: torch.randn(b, inputs, generator=generator) for b in BATCHES}
    fp32: dict[int, float] = {}
    with torch.no_grad():
        for name, variant in variants(model).items():
            cells = []
            for b, x in batches.items():
                ms = median_ms(lambda variant=variant, x=x: variant(x), repeats)
                fp32.setdefault(b, ms)  # the first variant is fp32
                cells.append(f"{ms:10.3f} ms {ms / fp32[b]:6.2f}x")
            print(f"  {name:28}" + "".join(f"{cell:>24}" for cell in cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per figure")
    repeats = parser.parse_args(argv).repeats
    print(
        f"torch {torch.__version__}, torchao {torchao_bridge.VERSION}, "
        f"{torch.get_num_threads()} threads, median of {repeats}; ratios are to fp32"
    )
    torch.manual_seed(0)
    layer = torch.nn.Sequential(torch.nn.Linear(SIZE, SIZE))
    bench(f"One {SIZE} x {SIZE} linear layer", layer, SIZE, repeats)
    model, _ = models.trained_digits_mlp()
    bench("The digits MLP of lessons L4-C and L5-B (64-128-64-10)", model, 64, repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
