"""Benchmark of the L4 lessons' code: packing and unpacking low-bit weights, and the forward
pass of a 4096 x 4096 ``helper.QuantizedLinear`` against ``nn.Linear``.

    python benchmarks/bench_l4.py             # the figures, printed
    python benchmarks/bench_l4.py --repeats 5 # fewer repeats, faster

It prints measurements, it asserts nothing: timings depend on the machine and its load. Each
figure is the median of ``--repeats`` runs after one warm-up run.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from bench_quantize import median_ms  # the benchmarks folder is on sys.path when run

import helper

SIZE = 4096
BATCH = 16


def median_seconds(function: Callable[[], object], repeats: int) -> float:
    """The median wall time of ``function()`` in seconds (see bench_quantize.median_ms)."""
    return median_ms(function, repeats) / 1000


def gigabytes_per_second(n_bytes: int, seconds: float) -> float:
    return n_bytes / seconds / 1e9


def bench_packing(repeats: int) -> None:
    """Pack and unpack a SIZE x SIZE tensor of signed values at 1, 2 and 4 bits; the rate is
    counted in bytes of the int8 container (SIZE**2 bytes), against a plain copy of it."""
    print(f"Packing a {SIZE} x {SIZE} tensor ({SIZE * SIZE / 2**20:.0f} MiB in int8 containers)")
    generator = torch.Generator().manual_seed(0)
    container = torch.randint(-1, 1, (SIZE, SIZE), generator=generator, dtype=torch.int8)
    n_bytes = container.numel() * container.element_size()
    copy = median_seconds(container.clone, repeats)
    print(
        f"  copy of the int8 tensor       {1e3 * copy:7.2f} ms  {gigabytes_per_second(n_bytes, copy):6.2f} GB/s"
    )
    for bits in helper.PACKABLE_BITS:
        low, high = helper.q_range(helper.integer_dtype(bits, signed=True))
        q = torch.randint(low, high + 1, (SIZE, SIZE), generator=generator, dtype=torch.int8)
        packed = helper.pack_weights(q, bits)
        packed_copy = median_seconds(packed.clone, repeats)
        pack = median_seconds(lambda q=q, bits=bits: helper.pack_weights(q, bits), repeats)
        unpack = median_seconds(
            lambda p=packed, bits=bits: helper.unpack_weights(p, bits, (SIZE, SIZE), signed=True),
            repeats,
        )
        assert torch.equal(helper.unpack_weights(packed, bits, q.shape, signed=True), q)
        print(
            f"  {bits}-bit: pack {1e3 * pack:7.2f} ms {gigabytes_per_second(n_bytes, pack):6.2f} GB/s"
            f" | unpack {1e3 * unpack:7.2f} ms {gigabytes_per_second(n_bytes, unpack):6.2f} GB/s"
            f" | copy of the {packed.numel() / 2**20:.0f} MiB packed {1e3 * packed_copy:6.2f} ms"
        )


def bench_forward(repeats: int) -> None:
    """Forward pass of a SIZE x SIZE layer on a (BATCH, SIZE) input: nn.Linear in fp32 against
    QuantizedLinear (weights dequantized on every call), and the integer product of W8A8."""
    print(f"\nForward pass of a {SIZE} x {SIZE} linear layer on a batch of {BATCH}")
    torch.manual_seed(0)
    linear = torch.nn.Linear(SIZE, SIZE)
    x = torch.randn(BATCH, SIZE)
    layers = {
        "nn.Linear (fp32)": linear,
        "QuantizedLinear 8-bit per-channel (int8)": helper.QuantizedLinear.from_linear(linear, 8),
        "QuantizedLinear 4-bit per-group 32 (packed)": helper.QuantizedLinear.from_linear(
            linear, 4, "per-group", 32
        ),
    }
    with torch.no_grad():
        reference = None
        for name, layer in layers.items():
            seconds = median_seconds(lambda layer=layer: layer(x), repeats)
            reference = reference or seconds  # the first layer, nn.Linear
            size = helper.model_bytes(layer) / 2**20
            print(
                f"  {name:44} {1e3 * seconds:8.2f} ms  {seconds / reference:5.1f}x fp32"
                f"  ({size:5.1f} MiB stored)"
            )
        q_x, s_x, z_x = helper.linear_quantization(x)
        q_w, s_w = helper.linear_q_symmetric_per_channel(linear.weight.detach(), dim=0)
        row_sums = q_w.sum(dim=1, dtype=torch.int32)  # computed once, with the weights
        for method in ("int_mm", "int32"):
            seconds = median_seconds(
                lambda method=method: helper.quantized_linear_W8A8_without_bias(
                    q_x, s_x, z_x, q_w, s_w, method=method, w_row_sums=row_sums
                ),
                repeats,
            )
            name = f"W8A8 integer layer ({method}, x quantized)"
            print(f"  {name:44} {1e3 * seconds:8.2f} ms  {seconds / reference:5.1f}x fp32")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per figure")
    repeats = parser.parse_args(argv).repeats
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {repeats}\n")
    bench_packing(repeats)
    bench_forward(repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
